"""Image-quality and generative metrics (numpy in, floats out).

* :mod:`~engine.metrics.image` — SSIM, MS-SSIM, PSNR;
* :mod:`~engine.metrics.segmentation` — confusion matrix, IoU, mIoU;
* :mod:`~engine.metrics.distribution` — FID, KID with an injectable feature extractor
  (local Inception weights, or the project's opera domain extractor);
* :mod:`~engine.metrics.perceptual` — LPIPS, only from local weights;
* :mod:`~engine.metrics.inception_score` — IS from class probabilities (the opera domain
  classifier's 7-class softmax; Inception is not wired for IS).
"""

from engine.metrics.distribution import (
                                         DistributionScores,
                                         MetricUnavailable,
                                         fid_kid,
                                         frechet_distance,
                                         get_extractor,
                                         kernel_inception_distance,
)
from engine.metrics.image import MS_SSIM_WEIGHTS, ms_ssim, psnr, ssim
from engine.metrics.inception_score import inception_score
from engine.metrics.segmentation import confusion_matrix, iou_per_class, mean_iou

__all__ = ["DistributionScores", "MetricUnavailable", "MS_SSIM_WEIGHTS", "confusion_matrix", "fid_kid",
           "frechet_distance", "get_extractor", "inception_score", "iou_per_class", "kernel_inception_distance", "mean_iou",
           "ms_ssim", "psnr", "ssim"]
