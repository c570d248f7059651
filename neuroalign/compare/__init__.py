"""Scoring alignment, grouped by family.

- :mod:`neuroalign.compare.rsa`: RDMs and their comparison, RSA inference, noise ceilings, searchlights;
- :mod:`neuroalign.compare.cka`: the CKA family (one pair, all layer pairs, minibatch CKA);
- :mod:`neuroalign.compare.encoding`: cross-validated encoding models and their searchlight;
- :mod:`neuroalign.compare.shape`: shape metrics (Williams et al. 2021);
- :mod:`neuroalign.compare.matching`: model-vs-model unit matching (imported on first use);
- :mod:`neuroalign.compare.common`: what several families share (bootstrap resampling, split-half
  ceilings, cross-validation splits, layer sweeps and commitment, searchlight spheres).

Every module lists its public names in ``__all__``; those of the modules below are all importable from
``neuroalign.compare``.  The modules' former flat paths (``neuroalign.compare.rdm``,
``neuroalign.compare.cka_matrix``, ...) still import: each is the same module object as its new path
(:data:`MOVED`), so ``from neuroalign.compare.rdm import as_rdm`` and ``monkeypatch.setattr`` on either
name act on one module.  Three former module names are now family packages (``cka``, ``encoding``,
``shape``); those packages export the family's public names, the former module's among them.
"""

import importlib as _importlib
import sys as _sys

from .common.bootstrap import *  # noqa: F401,F403
from .common.ceiling import *  # noqa: F401,F403
from .cka.core import *  # noqa: F401,F403
from .cka.matrix import *  # noqa: F401,F403
from .cka.minibatch import *  # noqa: F401,F403
from .common.cv_splits import *  # noqa: F401,F403
from .encoding.scoring import *  # noqa: F401,F403
from .rsa.inference import *  # noqa: F401,F403
from .common.layer_commitment import *  # noqa: F401,F403
from .common.layer_sweep import *  # noqa: F401,F403
from .rsa.model_tests import *  # noqa: F401,F403
from .rsa.noise_ceiling import *  # noqa: F401,F403
from .rsa.rdm import *  # noqa: F401,F403
from .rsa.rdm_comparison import *  # noqa: F401,F403
from .rsa.rdm_methods import *  # noqa: F401,F403
from .shape.metrics import *  # noqa: F401,F403
from .common.searchlight_grid import *  # noqa: F401,F403
from .rsa.searchlight import *  # noqa: F401,F403
from .encoding.searchlight import *  # noqa: F401,F403
from .rsa.noise_normalisation import *  # noqa: F401,F403
from .rsa.rsatoolbox_interop import *  # noqa: F401,F403

#: Former flat module path (relative to this package) → the module's path now.  Families whose
#: name was a module's name (``cka``, ``encoding``, ``shape``) are packages now and are not listed.
MOVED = {
    "bootstrap": "common.bootstrap", "ceiling": "common.ceiling", "cv_splits": "common.cv_splits",
    "layer_commitment": "common.layer_commitment", "layer_sweep": "common.layer_sweep",
    "searchlight_grid": "common.searchlight_grid", "unit_scale": "common.unit_scale",
    "comparison_methods": "rsa.comparison_methods", "inference": "rsa.inference", "kendall_sums": "rsa.kendall_sums",
    "model_tests": "rsa.model_tests", "noise_ceiling": "rsa.noise_ceiling",
    "noise_normalisation": "rsa.noise_normalisation", "rdm": "rsa.rdm", "rdm_comparison": "rsa.rdm_comparison",
    "rdm_methods": "rsa.rdm_methods", "rsatoolbox_interop": "rsa.rsatoolbox_interop", "searchlight": "rsa.searchlight",
    "whitened_comparisons": "rsa.whitened_comparisons",
    "cka_matrix": "cka.matrix", "cka_minibatch": "cka.minibatch", "cka_tiled": "cka.tiled",
    "ridge": "encoding.ridge", "searchlight_encoding": "encoding.searchlight",
}


def _alias_moved_modules() -> None:
    """Make every former path name the same module object as its new path.

    The modules are imported above anyway, so registering them in ``sys.modules`` is the whole alias: the
    import system looks a dotted name up there before it searches the package's folder.  An import hook
    would add nothing but a hazard: the import system sets a module it loads as an attribute of its
    package, which would hide the public functions ``cka_matrix``, ``noise_ceiling`` and ``cv_splits``
    behind their former modules.  As before the move, a former module is an attribute of this package
    unless a public name of the same spelling holds that place.
    """
    namespace = globals()
    for old, new in MOVED.items():
        module = _importlib.import_module(f"{__name__}.{new}")
        _sys.modules.setdefault(f"{__name__}.{old}", module)
        namespace.setdefault(old, module)


_alias_moved_modules()

# Importing a subpackage sets it as an attribute of this package; the functions ``rsa`` and ``cka`` keep
# their public names whatever order the subpackages were first imported in.
from .cka.core import cka  # noqa: E402
from .common.layer_sweep import rsa  # noqa: E402
