"""Training entries for the learned models, on one shared loop (:mod:`engine.training.loop`)."""
