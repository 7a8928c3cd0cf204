"""The science: torch + numpy only. Imports nothing from the rest of markovlens."""

# results first: it closes the import cycle config → surplus_schema → results (see its tail).
from markovlens.analysis import results as _results  # noqa: F401  isort: skip
from markovlens.analysis.config import AnalysisConfig, preset_config
from markovlens.analysis.pipeline import run_analysis
from markovlens.analysis.results import AnalysisOutput, AnalysisResult

__all__ = ["AnalysisConfig", "AnalysisOutput", "AnalysisResult", "preset_config", "run_analysis"]
