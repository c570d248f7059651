"""Figures people would rather look at than read."""

from .layer_profile import layer_profile_figure, plot_layer_profile

__all__ = ["layer_profile_figure", "plot_layer_profile"]
from .model_comparison import *  # noqa: F401,F403
from .cka import cka_figure, plot_cka  # noqa: F401
from .rdm import *  # noqa: F401,F403
