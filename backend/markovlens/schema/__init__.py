"""The result format: config, suite sections, the result document and its readers.

Torch-free and app-free, so the API, the CLI's HTTP commands and the frontend's schema
(exported through OpenAPI) share it without loading the analysis engine.
"""
