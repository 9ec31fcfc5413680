"""The model language: template values built from YAML files or Python."""

from rates_core.frontend.loader import load_template
from rates_core.frontend.population import Connectivity, PopulationTemplate
from rates_core.frontend.templates import (
    CircuitTemplate,
    Edge,
    EdgeTemplate,
    MatrixConnection,
    NodeTemplate,
    OperatorTemplate,
)
from rates_core.frontend.variables import Variable, parse_declaration

__all__ = [
    "CircuitTemplate",
    "Connectivity",
    "Edge",
    "EdgeTemplate",
    "MatrixConnection",
    "NodeTemplate",
    "OperatorTemplate",
    "PopulationTemplate",
    "Variable",
    "load_template",
    "parse_declaration",
]
