"""Schema-valid spec data -> IR, with the semantic checks a schema cannot express.

Runs only on data that passed the JSON Schema, so shapes are trusted here;
every problem found is collected and reported at once. One module per part
of the spec; `Resolver` puts them together.
"""

from __future__ import annotations

from ...errors import MeshgenError
from ...ir import Spec
from ..loader import LoadedSpec
from .contracts import ContractSections
from .models import ModelSections, module_file
from .project import DEFAULT_GATEWAY, ProjectSections

__all__ = ["DEFAULT_GATEWAY", "Resolver", "module_file", "resolve"]


class Resolver(ProjectSections, ContractSections, ModelSections):
    def resolve(self) -> Spec:
        project = self._project()
        gateways = self._gateways()
        environments = self._environments(gateways)
        contracts = self._contracts()
        sources = self._sources()
        models = self._models(project, {c.name: c for c in contracts}, {s.name for s in sources})
        spec = Spec(
            project=project,
            output=self._output(),
            gateways=gateways,
            environments=environments,
            sources=sources,
            contracts=contracts + tuple(m.contract for m in models if m.contract and m.contract.inline),
            engines=self._engines(),
            limits=self._limits(),
            retries=self._retries(),
            models=models,
            section_locations={key: self.spec.location((key,), at_key=True) for key in self.data},
        )
        if self.errors:
            raise MeshgenError(self.errors)
        return spec


def resolve(spec: LoadedSpec, spec_folder: str = ".", repository_offset: str = "") -> Spec:
    """The IR of a loaded spec; `spec_folder` is the spec's folder relative to the output root,
    `repository_offset` the output root relative to the top of its git work tree."""
    return Resolver(spec, spec_folder, repository_offset).resolve()
