"""The structure issue 14 asked for, checked: a material is one module that answers everything the
case, the model and the backends ask of it, and no backend or solver names a material."""
import re
import typing
from pathlib import Path

import pytest

from pdgeneral import materials
from pdgeneral.case.schema import Material
from pdgeneral.kernels import lps as lps_kernels
from pdgeneral.kernels import pmb as pmb_kernels
from pdgeneral.kernels import unrolled

PACKAGE = Path(materials.__file__).resolve().parent.parent
#: What a material module provides (materials/__init__.py lists who asks for what).
INTERFACE = ("check_keys", "constants", "moment_weight", "reference_moments", "particle_terms",
             "attributes", "summary", "kernel_material", "FORCE_PASSES", "ENERGY_PASS",
             "UNROLLED_FORCE", "RECORDED_ENERGY")
BODIES = {f.__name__ for f in pmb_kernels.BODIES + lps_kernels.BODIES}


@pytest.mark.parametrize("name", typing.get_args(Material.model_fields["model"].annotation))
def test_every_material_of_the_schema_is_a_module_with_the_whole_interface(name):
    module = materials.module(name)
    missing = [attribute for attribute in INTERFACE if not hasattr(module, attribute)]
    assert not missing, missing
    assert module.FORCE_PASSES and set(module.FORCE_PASSES) <= BODIES
    assert module.ENERGY_PASS in BODIES
    if module.UNROLLED_FORCE:   # kernels/unrolled.py writes out every pass of it
        assert all(body == "particle_force" or body in unrolled.SOURCES
                   for body in module.FORCE_PASSES)
    if module.RECORDED_ENERGY is not None:   # only a single pass sums a history row's bond terms
        assert len(module.FORCE_PASSES) == 1 and module.RECORDED_ENERGY in BODIES


@pytest.mark.parametrize("folder", ["backends", "solvers"])
def test_no_backend_or_solver_branches_on_a_material(folder):
    names = typing.get_args(Material.model_fields["model"].annotation)
    alternatives = "|".join(names)
    pattern = re.compile(rf"""["']({alternatives})["']""")
    found = [f"{path.name}:{number}: {line.strip()}"
             for path in sorted((PACKAGE / folder).glob("*.py"))
             for number, line in enumerate(path.read_text().splitlines(), 1)
             if pattern.search(line)]
    assert not found, found
