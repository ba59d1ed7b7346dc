"""Deterministic synthetic meshgen specs of N models, for benchmarks and tests.

The mix resembles a real analytics platform:

* sources with declared columns (one per staging model, some shared);
* staging models (layer `staging`, ~30%): a `SELECT *` CTE over one source, a
  cleaning CTE, a final projection;
* intermediate models (~40%): a base upstream joined with 1-2 aggregated
  upstreams (staging models, or earlier intermediate models of the same domain)
  through CTEs; a few are Python models;
* marts (~30%): GROUP BY in a CTE, then window functions (running totals,
  moving averages, ranks, LAG), over 1-2 staging or intermediate models.

Every SQL model is 15-60 lines. About a third of the models carry a contract
(inline, or a named one for marts) whose columns and types are exactly what the
SQL outputs: the final projection CASTs every column of a contracted model.
Engines are assigned by `engines.rules` (language, layer, domain, attribute,
tag). Staging and intermediate models expose a common set of columns
(`INTERFACE`), so every downstream reference resolves.

    from synthetic import generate, write
    spec_path = write(generate(1000, seed=7), "build/bench/1000")

Same (models, seed), same bytes. `raw_data` and `next_day` give its sources
deterministic rows, so the tests can run a generated spec on the real engines.
"""

from .data import next_day, raw_data
from .spec import Generated, dump_yaml, edit_target, generate, generate_spec, write
from .vocabulary import DEFAULT_SEED, EDIT_FROM, EDIT_TO, INTERFACE

__all__ = [
    "DEFAULT_SEED",
    "EDIT_FROM",
    "EDIT_TO",
    "INTERFACE",
    "Generated",
    "dump_yaml",
    "edit_target",
    "generate",
    "generate_spec",
    "next_day",
    "raw_data",
    "write",
]
