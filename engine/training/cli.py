"""``masquerade train <model> ...``: the training entries of the learned models."""

from __future__ import annotations

import argparse


def add_runtime_args(p: argparse.ArgumentParser) -> None:
    """``--device`` and ``--amp``, the options every training entry shares.

    Args:
        p: one ``train <model>`` parser.
    """
    from engine.device import DEVICE_CHOICES

    p.add_argument("--device", default="auto", metavar="|".join(DEVICE_CHOICES),
                   help="where to train: auto (CUDA, then MPS, then CPU; MASQUERADE_DEVICE overrides), cpu, "
                        "cuda, cuda:N or mps; under torchrun each process takes cuda:LOCAL_RANK")
    p.add_argument("--amp", action="store_true",
                   help="mixed precision: bf16 autocast where the GPU supports it, else fp16 with a gradient "
                        "scaler; no effect on the CPU")


TIME_LIMIT_HELP = ("stop training after this many seconds — CPU seconds of this process on the CPU (the same "
                   "work on a quiet or a shared machine), wall seconds on a GPU; state kept, running again resumes")


def add_loss_features_arg(p: argparse.ArgumentParser) -> None:
    """``--loss-features``: the ImageNet network of the losses the papers define on VGG-19 features.

    Args:
        p: the ``train cocosnet`` / ``regen`` / ``expression-gan`` parser.
    """
    from engine.weights.catalog import FEATURE_NETWORKS  # the choices of load_imagenet_features

    p.add_argument("--loss-features", choices=FEATURE_NETWORKS, default="auto",
                   help="ImageNet features of the perceptual / contextual losses: auto (EfficientNet-Lite0, whose "
                        "weights ship with the requirements, else an imported VGG-19, else the documented "
                        "stand-in), efficientnet_lite0, or vgg19 (a vgg19-dcbb9e9d.pth imported with the Model "
                        "manager); an explicit choice that cannot be loaded is an error")


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Add the ``train`` sub-command with one sub-command per trainable model.

    Args:
        subparsers: the ``masquerade`` parser's sub-parsers.

    Returns:
        The ``train`` parser.
    """
    p = subparsers.add_parser("train", help="train a learned model (CPU, or GPUs with torchrun)")
    models = p.add_subparsers(dest="model", metavar="MODEL", required=True)
    mw = models.add_parser("maskwear-stn", help="the mask-wearing refiner (STN + PyConv, WGAN-div)")
    mw.add_argument("--data", required=True, help="data root with faces/, makeup/mt/, maskwear/real_masked/")
    mw.add_argument("--out", required=True, help="checkpoint stem to write (e.g. checkpoints/maskwear_stn_g)")
    mw.add_argument("--run-dir", default="runs/maskwear_stn", help="logs, resumable state, data cache")
    mw.add_argument("--steps", type=int, default=300)
    mw.add_argument("--batch", type=int, default=8)
    mw.add_argument("--width", type=int, default=8, help="generator/critic width (multiple of 8)")
    mw.add_argument("--seed", type=int, default=0)
    mw.add_argument("--eval-only", action="store_true",
                    help="do not train: re-measure the refiner --out against the current key-point fit and "
                         "rewrite its card's coverage numbers and verdict")
    add_runtime_args(mw)
    mw.set_defaults(func=_maskwear)
    oc = models.add_parser("opera-classifier", help="the opera main-colour ResNet-18 (procedural lianpu, no pretraining)")
    oc.add_argument("--out", default="checkpoints/opera_colour_resnet18", help="checkpoint stem to write")
    oc.add_argument("--run-dir", default="runs/opera_classifier", help="logs and resumable state")
    oc.add_argument("--dev", default=None, help="labelled dev lianpu folder for the held-out check (never trained on)")
    oc.add_argument("--steps", type=int, default=150)
    oc.add_argument("--batch", type=int, default=32)
    oc.add_argument("--size", type=int, default=64, help="network input side")
    oc.add_argument("--pool", type=int, default=1400, help="procedural designs rendered for training")
    oc.add_argument("--time-limit", type=float, default=None, help=TIME_LIMIT_HELP)
    oc.add_argument("--seed", type=int, default=0)
    add_runtime_args(oc)
    oc.set_defaults(func=_opera_classifier)
    sg = models.add_parser("stylegan2", help="StyleGAN2 on procedural lianpu with ADA / APA / Diffusion-GAN / no augmentation")
    sg.add_argument("--out", default="runs/stylegan2/G_ema", help="generator checkpoint stem to write")
    sg.add_argument("--run-dir", default="runs/stylegan2", help="logs, resumable state, samples.png")
    sg.add_argument("--aug", choices=("ada", "apa", "diffusion", "none"), default="ada")
    sg.add_argument("--size", type=int, default=32, help="image side (power of two)")
    sg.add_argument("--images", type=int, default=500, help="procedural lianpu in the training set")
    sg.add_argument("--steps", type=int, default=500)
    sg.add_argument("--batch", type=int, default=16)
    sg.add_argument("--eval-images", type=int, default=128, help="samples for FID/KID")
    sg.add_argument("--extractor", choices=("auto", "inception", "domain"), default="domain")
    sg.add_argument("--data", default=None, help="folder of colour dev lianpu added to the training set (optional)")
    sg.add_argument("--channel-base", type=int, default=2048, help="width: channels at resolution r = base / r")
    sg.add_argument("--channel-max", type=int, default=128, help="channel cap")
    sg.add_argument("--aug-kimg", type=float, default=100.0,
                    help="thousands of images for the adaptive p to go 0 → 1 (the paper: 500; small for short runs)")
    sg.add_argument("--time-limit", type=float, default=None, help=TIME_LIMIT_HELP)
    sg.add_argument("--by-role", action="store_true",
                    help="condition on role type (9 procedural types + the dev lianpu as 'traditional'): class "
                         "embedding into the mapping network, projection discriminator")
    sg.add_argument("--keep-if-better", default=None, metavar="STEM",
                    help="with --by-role and --data: write the generator to this checkpoint stem only when its "
                         "fd_effnet_lite0 to the dev lianpu is lower than the checkpoint already there")
    sg.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    sg.add_argument("--seed", type=int, default=0)
    add_runtime_args(sg)
    sg.set_defaults(func=_stylegan2)
    cc = models.add_parser("cocosnet", help="the opera CoCosNet-style exemplar colouring network (procedural + dev lianpu)")
    cc.add_argument("--data", default=None, help="folder of colour dev lianpu to add (every third held out), optional")
    cc.add_argument("--out", default="checkpoints/cocosnet_g", help="checkpoint stem to write")
    cc.add_argument("--run-dir", default="runs/cocosnet", help="logs and resumable state")
    cc.add_argument("--size", type=int, default=64, choices=(64, 128, 256), help="training side")
    cc.add_argument("--steps", type=int, default=600, help="upper bound; --time-limit may end the run first")
    cc.add_argument("--batch", type=int, default=8)
    cc.add_argument("--width", type=int, default=16, help="encoder/generator base width")
    cc.add_argument("--designs", type=int, default=400, help="procedural designs rendered for training")
    cc.add_argument("--eval-count", type=int, default=40, help="held-out procedural designs in the SSIM comparison")
    cc.add_argument("--eval-size", type=int, default=256,
                    help="side of the held-out pairs of the headline comparison (also measured at --size)")
    cc.add_argument("--time-limit", type=float, default=None, help=TIME_LIMIT_HELP)
    cc.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: best on a shared 2-core machine)")
    cc.add_argument("--seed", type=int, default=0)
    add_loss_features_arg(cc)
    add_runtime_args(cc)
    cc.set_defaults(func=_cocosnet)
    ex = models.add_parser("expression-gan", help="the anime expression GAN (procedural faces, CPU-sized demo)")
    ex.add_argument("--out", default="checkpoints/expression_gan_g",
                    help="generator checkpoint stem (the judge classifier goes beside it as expression_judge)")
    ex.add_argument("--run-dir", default="runs/expression_gan", help="logs, resumable state, data cache")
    ex.add_argument("--seeds", type=int, default=400, help="procedural identities (3 expressions each)")
    ex.add_argument("--size", type=int, default=64, help="training side (multiple of 16)")
    ex.add_argument("--steps", type=int, default=1300)
    ex.add_argument("--batch", type=int, default=8)
    ex.add_argument("--width", type=int, default=16, help="generator/critic base width")
    ex.add_argument("--code-dim", type=int, default=128, help="mapping-network width (the paper: 512)")
    ex.add_argument("--pair-weight", type=float, default=10.0,
                    help="L1 pull to the drawn target expression (not in the paper; 0 = unpaired)")
    ex.add_argument("--adv-weight", type=float, default=0.1,
                    help="generator adversarial weight (the paper: 1; 0.1 cut colour artefacts in the CPU demo)")
    ex.add_argument("--mask-weight", type=float, default=0.02,
                    help="attention sparsity + smoothness weight (not in the paper; GANimation-style)")
    ex.add_argument("--classifier-steps", type=int, default=300)
    ex.add_argument("--eval-faces", type=int, default=40)
    ex.add_argument("--seed", type=int, default=0)
    ex.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads (1: on a shared 2-core machine more threads cost more CPU time)")
    add_loss_features_arg(ex)
    add_runtime_args(ex)
    ex.set_defaults(func=_expression)
    mk = models.add_parser("makeup-gan", help="the mask-controlled makeup GAN (classical renders as style targets)")
    mk.add_argument("--data", required=True, help="data root with faces/photos and makeup/mt/{makeup,no_makeup}")
    mk.add_argument("--out", required=True, help="checkpoint stem to write (e.g. checkpoints/makeup_gan_g)")
    mk.add_argument("--run-dir", default="runs/makeup_gan", help="logs, resumable state, data cache")
    mk.add_argument("--size", type=int, default=64, help="aligned crop side (multiple of 4; 64-128 on CPU)")
    mk.add_argument("--steps", type=int, default=600)
    mk.add_argument("--batch", type=int, default=8)
    mk.add_argument("--width", type=int, default=16, help="generator/critic base width")
    mk.add_argument("--time-limit", type=float, default=290.0, help=TIME_LIMIT_HELP)
    mk.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads (1: on a shared 2-core machine more threads cost more time)")
    mk.add_argument("--seed", type=int, default=0)
    mk.add_argument("--eval-only", action="store_true",
                    help="do not train: re-measure the checkpoint --out on the held-out photos (identity "
                         "distances included) and rewrite its card's numbers")
    add_runtime_args(mk)
    mk.set_defaults(func=_makeup_gan)
    rg = models.add_parser("regen", help="the Regenerate studio's learned generator (SEAN-style, CPU-sized demo)")
    rg.add_argument("--data", required=True, help="data root with faces/photos, faces/parsing, makeup/mt/")
    rg.add_argument("--out", default="checkpoints/regen_g", help="checkpoint stem to write")
    rg.add_argument("--run-dir", default="runs/regen", help="logs, resumable state, data cache")
    rg.add_argument("--size", type=int, default=64, help="training side (multiple of 8)")
    rg.add_argument("--steps", type=int, default=3000, help="upper bound; --time-limit usually ends the run")
    rg.add_argument("--batch", type=int, default=4)
    rg.add_argument("--width", type=int, default=16, help="generator/discriminator base width")
    rg.add_argument("--style-dim", type=int, default=32, help="style code length (SEAN: 512)")
    rg.add_argument("--time-limit", type=float, default=300.0, help=TIME_LIMIT_HELP)
    rg.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: best on a shared 2-core machine)")
    rg.add_argument("--seed", type=int, default=0)
    rg.add_argument("--eval-only", action="store_true",
                    help="do not train: re-measure the checkpoint --out against the current classical engine "
                         "and parser and rewrite its card's numbers")
    add_loss_features_arg(rg)
    add_runtime_args(rg)
    rg.set_defaults(func=_regen)
    ri = models.add_parser("regen-inpaint", help="the Regenerate studio's learned engine on the inpainting contract "
                                                 "(synthesises only the changed pixels; CPU-sized)")
    ri.add_argument("--data", required=True, help="data root with faces/photos, makeup/mt, opera/xiqu/non-makeup")
    ri.add_argument("--out", default="checkpoints/regen_inpaint", help="checkpoint stem to write")
    ri.add_argument("--run-dir", default="runs/regen_inpaint", help="logs, resumable state, data cache")
    ri.add_argument("--size", type=int, default=96, help="model side (multiple of 8)")
    ri.add_argument("--steps", type=int, default=6000, help="upper bound; --time-limit usually ends the run")
    ri.add_argument("--batch", type=int, default=6)
    ri.add_argument("--width", type=int, default=16, help="first-stage channels (x8 at the bottleneck)")
    ri.add_argument("--style-dim", type=int, default=32, help="style code length")
    ri.add_argument("--time-limit", type=float, default=1620.0, help=TIME_LIMIT_HELP)
    ri.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: best on a shared 2-core machine)")
    ri.add_argument("--seed", type=int, default=0)
    add_loss_features_arg(ri)
    add_runtime_args(ri)
    ri.set_defaults(func=_regen_inpaint)
    fp = models.add_parser("parser", help="the learned face parser (EfficientNet-Lite0 U-Net on the geometric prior), "
                                          "k-fold cross-validated against the geometric parser")
    fp.add_argument("--data", required=True, help="data root with faces/parsing, makeup/mt, opera/xiqu")
    fp.add_argument("--out", default="checkpoints/face_parser", help="checkpoint stem to write")
    fp.add_argument("--run-dir", default="runs/parser", help="logs, resumable state per fold, data cache")
    fp.add_argument("--size", type=int, default=192, help="aligned crop side (multiple of 32)")
    fp.add_argument("--crop-scale", type=float, default=None,
                    help="scale of the aligned crop (default 1.0: forehead to chin; written into the card)")
    fp.add_argument("--crop-shift", type=float, default=None,
                    help="move the crop's centre up by this share of its side (default 0; e.g. 0.08 with "
                         "--crop-scale 1.3 for stage headwear; written into the card)")
    fp.add_argument("--keep-mesh-classes", default="", metavar="NAME[,NAME]",
                    help="classes left as the geometric parser draws them from the mesh, e.g. u_lip,l_lip "
                         "(scored that way; written into the card)")
    fp.add_argument("--mesh-bounded-classes", default="", metavar="NAME[,NAME]",
                    help="classes the network may shrink but not grow past the geometric parser's regions of "
                         "them, e.g. l_eye,r_eye (scored that way; written into the card)")
    fp.add_argument("--mirror-tta", action="store_true",
                    help="parse each crop also mirrored and average the two (scored that way; written into "
                         "the card; twice the network's time)")
    fp.add_argument("--edge-refine", type=float, default=0.0, metavar="R",
                    help="guided filter of the pasted-back class probabilities, radius R crop pixels, steered "
                         "by the photo's grey levels (scored that way; written into the card; 0: off)")
    fp.add_argument("--face-guard", type=float, default=None, metavar="G",
                    help="a face whose eye band the network takes out of the face by more than this share gets "
                         "its geometric skin back inside the mesh's outline (scored that way; written into the "
                         "card; default 0.25; 1: off)")
    fp.add_argument("--extend-hat", action=argparse.BooleanOptionalAction, default=True,
                    help="carry the learned hair / hat decision past the face crop, where the geometric parser "
                         "calls a tall headdress hair (scored that way; written into the card; default on)")
    fp.add_argument("--lovasz", type=float, default=0.0, metavar="W",
                    help="add W x the Lovasz-softmax loss (a surrogate of 1 - IoU) to cross-entropy + Dice "
                         "(default 0: none; recorded with each fold and on the card)")
    fp.add_argument("--class-weight", action="append", default=None, metavar="NAME=W",
                    help="weight the cross-entropy of pixels of true class NAME by W (repeatable; e.g. "
                         "l_brow=2 for a class the parser under-segments; written into the card)")
    fp.add_argument("--folds", type=int, default=3, help="cross-validation folds (by photo)")
    fp.add_argument("--steps", type=int, default=450, help="steps of each fold and of the final model")
    fp.add_argument("--batch", type=int, default=8)
    fp.add_argument("--width", type=int, default=96, help="decoder width at stride 32")
    fp.add_argument("--lr", type=float, default=None,
                    help="decoder learning rate (default 1e-3; encoder: 0.2 x; written into the card)")
    fp.add_argument("--frozen-stages", type=int, default=None, metavar="N",
                    help="the encoder's stem and first N of its 7 stages keep their ImageNet weights (default 3: "
                         "strides 2-8; 1: only the stride-2 stage; written into the card)")
    fp.add_argument("--prior-gain", type=float, default=4.0,
                    help="initial weight of the geometric prior in the logits (learned from there)")
    fp.add_argument("--time-limit", type=float, default=None,
                    help=TIME_LIMIT_HELP + " (per fold and for the final model; a fold stopped early resumes)")
    fp.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    fp.add_argument("--seed", type=int, default=0)
    fp.add_argument("--eval-only", action="store_true",
                    help="do not train: run the checkpoint --out through the product path on every cached photo "
                         "(its own training photos: a sanity check, not a held-out number)")
    fp.add_argument("--holdout-source", default=None, metavar="all|NAME[,NAME]",
                    help="do not cross-validate or save a model: train on the other sources and score each named "
                         "source held out (celebamask, mt, xiqu_makeup, xiqu_plain); table in RUN_DIR/holdout.json")
    fp.add_argument("--rescore", action="store_true",
                    help="do not train: score the finished folds' models again and rewrite the card of --out "
                         "(same weights) with the cross-validated table and verdict")
    fp.add_argument("--skin-tone-aug", type=float, default=None, metavar="P",
                    help="share of training crops whose skin is made darker (0-1; default 0; written into the card)")
    fp.add_argument("--paint-aug", type=float, default=None, metavar="P",
                    help="share of training crops whose skin is painted a pale stage white or pink (0-1; default 0; "
                         "written into the card)")
    fp.add_argument("--pseudo-teacher", default=None, metavar="RUN_DIR",
                    help="also train on unlabelled photos (--pseudo-data) labelled by a finished run's models: "
                         "each fold by that run's same fold (trained without the fold's held-out photos: same "
                         "--folds and --seed), the final model by its final model; only confident pixels count")
    fp.add_argument("--pseudo-data", default=None, metavar="FOLDER[,FOLDER]",
                    help="unlabelled photo folders under --data for --pseudo-teacher (default faces/photos)")
    fp.add_argument("--pseudo-min-prob", type=float, default=None,
                    help="least teacher probability of a pseudo-label pixel (default 0.7)")
    fp.add_argument("--hair-photos", default=None, metavar="FOLDER[,FOLDER]",
                    help="also train on unlabelled everyday photos under --data (e.g. maskwear/real_masked,"
                         "faces/photos) whose geometric hair, away from its edges and where of a hair colour, is a "
                         "hair label and not a hat: the labelled photos show hats only as stage headdresses; each "
                         "fold holds a third of them out (written into the card)")
    add_runtime_args(fp)
    fp.set_defaults(func=_parser)
    return p


def _maskwear(args: argparse.Namespace) -> int:
    from engine.faces.cli import quiet_native_stderr
    from engine.training.maskwear import main

    with quiet_native_stderr():  # MediaPipe logs on every face analysis; progress goes to stdout
        return main(args)


def _expression(args: argparse.Namespace) -> int:
    from engine.training.expression import main

    return main(args)


def _opera_classifier(args: argparse.Namespace) -> int:
    from engine.training.opera_classifier import main

    return main(args)


def _cocosnet(args: argparse.Namespace) -> int:
    from engine.training.cocosnet import main

    return main(args)


def _stylegan2(args: argparse.Namespace) -> int:
    from engine.training.stylegan2 import main

    return main(args)


def _makeup_gan(args: argparse.Namespace) -> int:
    from engine.faces.cli import quiet_native_stderr
    from engine.training.makeup import main

    with quiet_native_stderr():  # MediaPipe logs on every face analysis; progress goes to stdout
        return main(args)


def _regen(args: argparse.Namespace) -> int:
    from engine.faces.cli import quiet_native_stderr
    from engine.training.regen import main

    with quiet_native_stderr():  # MediaPipe logs on every face analysis; progress goes to stdout
        return main(args)


def _regen_inpaint(args: argparse.Namespace) -> int:
    from engine.faces.cli import quiet_native_stderr
    from engine.training.regen_inpaint import main

    with quiet_native_stderr():  # MediaPipe logs on every face analysis; progress goes to stdout
        return main(args)


def _parser(args: argparse.Namespace) -> int:
    from engine.faces.cli import quiet_native_stderr
    from engine.training.parser import main

    with quiet_native_stderr():  # MediaPipe logs on every face analysis; progress goes to stdout
        return main(args)
