"""markovlens: measure the Markov-categorical theory of language modelling on real models."""

__version__ = "0.1.0"
