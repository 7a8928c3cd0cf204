"""The science: torch + numpy only. Imports nothing from the app; its result format is
``markovlens.schema`` (torch-free). Entry point: ``markovlens.analysis.pipeline.run_analysis``.
"""
