"""Configuration and result schema of the spectral-alignment suite (docs/methods.md#spectral)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from markovlens.schema.common import Interval, drop_retired_split, metric

KernelName = Literal["proto", "lin", "bc", "hel"]
Side = Literal["data", "model"]

# Data side has the unbiased-sample kernels only; Bhattacharyya/Hellinger need a full p.
DATA_KERNELS: tuple[KernelName, ...] = ("proto", "lin")
MODEL_KERNELS: tuple[KernelName, ...] = ("proto", "lin", "bc", "hel")


class SpectralConfig(BaseModel):
    """Knobs of the spectral suite."""

    model_config = ConfigDict(extra="forbid")

    rank: int = metric(
        "count", None, "Eigenvalues kept per spectrum (r).", default=256, ge=2, le=4096
    )
    data_kernels: list[KernelName] = Field(default_factory=lambda: list(DATA_KERNELS))
    model_kernels: list[KernelName] = Field(default_factory=lambda: list(MODEL_KERNELS))
    beta: float = metric(
        "dimensionless", None, "Hellinger-Gaussian kernel's β.", default=1.0, gt=0.0
    )
    ridge_eps: float = metric(
        "ratio",
        None,
        "Whitening ridge ε·tr(Σ)/d; also the rank floor.",
        default=1e-6,
        gt=0.0,
        lt=1.0,
    )
    cca_top: int = metric("count", None, "Canonical correlations kept.", default=32, ge=1, le=1024)
    cca_ridge: float = metric(
        "ratio", None, "Ridge of CCA, relative to tr/d.", default=1e-2, gt=0.0
    )
    capture_top: int = metric(
        "count", None, "Eigenvectors on the curve.", default=32, ge=1, le=1024
    )
    vocab_chunk: int = metric(
        "tokens", None, "Vocabulary chunk for model side.", default=8192, ge=1
    )
    fisher_contexts: int = metric(
        "count", None, "Fisher subsample size.", default=64, ge=1, le=4096
    )
    fisher_top_tokens: int = metric(
        "tokens", None, "Per-context top-mass tokens kept in the Fisher metric.", default=512, ge=1
    )
    dirichlet_directions: int = metric(
        "count",
        None,
        "Top Fisher directions v whose Dirichlet energy is measured.",
        default=8,
        ge=1,
        le=256,
    )
    dirichlet_random: int = metric(
        "count", None, "Random unit directions for the baseline.", default=32, ge=1, le=1024
    )
    dense_eigh_max_n: int = metric(
        "count",
        None,
        "No longer used (kept so stored configs load): kernel eigenvalues are exact at every N; "
        "randomized Ritz values under-estimated Σλ and inflated A.",
        default=3072,
        ge=2,
    )
    eig_iterations: int = metric(
        "count", None, "Subspace iterations for capture eigenvectors.", default=6, ge=1, le=100
    )
    layers: list[int] | None = metric("index", None, "None = every captured layer.", default=None)
    device: str = Field(
        default="auto", description="Where the model-side vocabulary pass runs (auto: cuda)."
    )

    @model_validator(mode="before")
    @classmethod
    def _drop_retired(cls, values: Any) -> Any:
        # Stored configs carry the spectral split fractions a pipeline run never read (the
        # capture's split, from AnalysisConfig, is the one every suite uses).
        return drop_retired_split(values)


class Spectrum(BaseModel):
    """Top eigenvalues of K/N (Nyström scaling), descending."""

    kernel: KernelName
    side: Side
    eigenvalues: list[float] = metric("eigenvalue", None, "Top eigenvalues of K/N, descending.")
    trace: float = metric("eigenvalue", None, "tr(K)/N, to see how much of the spectrum is shown.")


class Alignment(BaseModel):
    """Theorem 7.6's Rayleigh quotient for one layer × kernel × side."""

    layer: int = metric("index", None, "Residual-stream index ℓ.")
    kernel: KernelName
    side: Side
    d_eff: int = metric("count", None, "Effective dimension of H^ℓ (whitened rank).")
    alignment: float = metric("ratio", "higher", "A = tr(Qᵀ K_c Q) / Σ_{i≤d_eff} λ_i(K_c) ∈ [0,1].")
    alignment_random: float = metric(
        "ratio",
        None,
        "A_rand = (d_eff/(N−1)) tr(K_c) / Σ_{i≤d_eff} λ_i: chance in the centred space (dimension "
        "N − 1).",
    )
    lift: float = metric("ratio", "higher", "A / A_rand: alignment over chance.")
    lift_interval: Interval | None = metric(
        "ratio",
        "higher",
        "Data side: lift ± 1.96 jackknife standard errors over windows (low ≥ 0).",
        default=None,
    )
    capture: list[float] = metric("ratio", None, "c_i = ‖Qᵀu_i‖² for the top eigenvectors of K_c.")


class RepresentationSpectrum(BaseModel):
    """Covariance spectrum of H^ℓ."""

    layer: int = metric("index", None, "Residual-stream index ℓ.")
    eigenvalues: list[float] = metric(
        "eigenvalue", None, "Eigenvalues of the covariance of H^ℓ, descending."
    )
    effective_rank: float = metric("dimensionless", None, "exp(−Σ q log q), q = λ/Σλ (RankMe).")
    participation_ratio: float = metric("dimensionless", None, "(Σλ)² / Σλ².")
    alpha: float | None = metric(
        "dimensionless", None, "Power-law slope over the middle of the spectrum."
    )
    anisotropy: float = metric(
        "dimensionless", None, "Mean pairwise cosine of the (uncentred) states."
    )


class HeldOut(BaseModel):
    """Linear predictability of Ḡ^data from H^ℓ: ridge fitted on train, R² on test."""

    layer: int = metric("index", None, "Residual-stream index ℓ.")
    r2: float = metric("ratio", "higher", "R² on test contexts of the ridge H^ℓ → Ḡ^data.")
    ridge: float = metric("dimensionless", None, "The ridge penalty picked on validation.")
    canonical_correlations: list[float] = metric(
        "dimensionless", None, "Ridge CCA, in-sample, top k."
    )
    canonical_correlations_test: list[float] = metric(
        "dimensionless",
        "higher",
        "Correlations of the train-fitted canonical pairs on test contexts.",
    )


class FisherSpectrum(BaseModel):
    """Eigenvalues of the mean pullback Fisher metric at the head."""

    layer: int = metric("index", None, "Residual-stream index ℓ of the head's input.")
    num_contexts: int = metric("count", None, "Contexts averaged.")
    eigenvalues: list[float] = metric(
        "eigenvalue", None, "Eigenvalues of the mean pullback Fisher metric, descending."
    )
    retained_mass: float = metric(
        "probability", None, "Mean probability mass of the kept top tokens."
    )


class DirichletEnergy(BaseModel):
    """E_K(H^ℓ v)/Var(H^ℓ v) for top Fisher directions v versus random unit v.

    The Fisher directions are those of the head's metric at ``directions_layer`` (the last
    layer L) at every ℓ: below L they are layer-L directions read in layer ℓ's coordinates.
    """

    layer: int = metric("index", None, "Residual-stream index ℓ.")
    directions_layer: int | None = metric(
        "index", None, "Layer whose Fisher metric gave v (L); None: older results.", default=None
    )
    kernel: KernelName
    side: Side
    fisher: list[float] = metric(
        "ratio", None, "E_K(H^ℓ v)/Var(H^ℓ v) for each top Fisher direction v."
    )
    random_mean: float = metric("ratio", None, "Mean of E_K/Var over random unit directions.")
    random_std: float = metric(
        "ratio", None, "Standard deviation of E_K/Var over random unit directions."
    )


class SpectralSuite(BaseModel):
    num_contexts: int = metric("count", None, "Sampled contexts N.")
    layers: list[int] = metric("index", None, "Residual-stream indices analysed.")
    spectra: list[Spectrum]
    alignment: list[Alignment]
    heldout: list[HeldOut]
    representation: list[RepresentationSpectrum]
    fisher: FisherSpectrum | None = None
    dirichlet: list[DirichletEnergy] = Field(default_factory=list)
    model_side_retained_mass: float = metric(
        "probability",
        None,
        "1.0: model-side kernels summed over the whole vocabulary.",
        default=1.0,
    )
    stage_seconds: dict[str, float] = metric(
        "seconds", None, "Time per stage of the suite.", default_factory=dict
    )
    notes: list[str] = Field(default_factory=list)
