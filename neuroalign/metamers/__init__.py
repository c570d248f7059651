"""Metameric tests: model metamers, their validity and recognisability, observer models and
psychometric analysis.

Names are imported on first use, so ``import neuroalign.metamers`` stays fast.
"""

from __future__ import annotations

from .._lazy import lazy_exports

#: Where each public name lives, imported when it is first used.
_LAZY: dict[str, str] = {
    "Metamer": ".synthesis",
    "LayerForward": ".layer_forward",
    "layer_activations": ".layer_forward",
    "FakeReLU": ".layer_forward",
    "PRESETS": ".presets",
    "Preset": ".presets",
    "get_preset": ".presets",
    "NormalizedGradient": ".steps",
    "HalvingScheduler": ".steps",
    "RelativeProgress": ".stopping",
    "mse_loss": ".objectives",
    "normalized_l2_loss": ".objectives",
    "range_penalty": ".objectives",
    "LOSSES": ".objectives",
    "PENALTIES": ".objectives",
    "activation_match": ".activation_matching",
    "null_distribution": ".activation_matching",
    "null_thresholds": ".activation_matching",
    "null_size_needed": ".activation_matching",
    "metamer_validity": ".validity",
    "activations_at": ".validity",
    "recognisability": ".recognition",
    "predict_labels": ".classify",
    "PixelKNN": ".pixel_observer",
    "mixed_anova": ".anova",
    "permutation_anova": ".anova_permutation",
    "NoisyFeatureObserver": ".observer_models",
    "observer_features": ".observer_models",
    "DECISION_RULES": ".decision_rules",
    "TASKS": ".decision_rules",
    "SIGMA_MODELS": ".observer_fit",
    "fit_sigma": ".observer_fit",
    "PsychometricFit": ".psychometric",
    "fit_psychometric": ".psychometric",
    "eccentricity_counts": ".eccentricity_curves",
    "fit_eccentricity_curves": ".eccentricity_curves",
    "SIGMOIDS": ".sigmoids",
    "get_sigmoid": ".sigmoids",
    "run_metamer_study": ".study",
    "MetamerStudyResult": ".study",
    "train_classifier": ".training",
    "TrainedClassifier": ".training",
}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
