"""Configuration and result schema of the spectral-alignment suite (docs/methods.md#spectral)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from markovlens.schema.common import Interval, drop_retired_split

KernelName = Literal["proto", "lin", "bc", "hel"]
Side = Literal["data", "model"]

# Data side has the unbiased-sample kernels only; Bhattacharyya/Hellinger need a full p.
DATA_KERNELS: tuple[KernelName, ...] = ("proto", "lin")
MODEL_KERNELS: tuple[KernelName, ...] = ("proto", "lin", "bc", "hel")


class SpectralConfig(BaseModel):
    """Knobs of the spectral suite."""

    model_config = ConfigDict(extra="forbid")

    rank: int = Field(default=256, ge=2, le=4096, description="Eigenvalues kept per spectrum (r).")
    data_kernels: list[KernelName] = Field(default_factory=lambda: list(DATA_KERNELS))
    model_kernels: list[KernelName] = Field(default_factory=lambda: list(MODEL_KERNELS))
    beta: float = Field(default=1.0, gt=0.0, description="Hellinger-Gaussian kernel's β.")
    ridge_eps: float = Field(
        default=1e-6, gt=0.0, lt=1.0, description="Whitening ridge ε·tr(Σ)/d; also the rank floor."
    )
    cca_top: int = Field(default=32, ge=1, le=1024)
    cca_ridge: float = Field(default=1e-2, gt=0.0, description="Ridge of CCA, relative to tr/d.")
    capture_top: int = Field(default=32, ge=1, le=1024, description="Eigenvectors on the curve.")
    vocab_chunk: int = Field(default=8192, ge=1, description="Vocabulary chunk for model side.")
    fisher_contexts: int = Field(default=64, ge=1, le=4096, description="Fisher subsample size.")
    fisher_top_tokens: int = Field(
        default=512, ge=1, description="Per-context top-mass tokens kept in the Fisher metric."
    )
    dirichlet_directions: int = Field(default=8, ge=1, le=256)
    dirichlet_random: int = Field(default=32, ge=1, le=1024)
    dense_eigh_max_n: int = Field(
        default=3072,
        ge=2,
        description="No longer used (kept so stored configs load): kernel eigenvalues are "
        "exact at every N; randomized Ritz values under-estimated Σλ and inflated A.",
    )
    eig_iterations: int = Field(
        default=6, ge=1, le=100, description="Subspace iterations for capture eigenvectors."
    )
    layers: list[int] | None = Field(default=None, description="None = every captured layer.")
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
    eigenvalues: list[float]
    trace: float = Field(description="tr(K)/N, to see how much of the spectrum is shown.")


class Alignment(BaseModel):
    """Theorem 7.6's Rayleigh quotient for one layer × kernel × side."""

    layer: int
    kernel: KernelName
    side: Side
    d_eff: int
    alignment: float = Field(description="A = tr(Qᵀ K_c Q) / Σ_{i≤d_eff} λ_i(K_c) ∈ [0,1].")
    alignment_random: float = Field(
        description="A_rand = (d_eff/(N−1)) tr(K_c) / Σ_{i≤d_eff} λ_i: chance in the centred "
        "space (dimension N − 1)."
    )
    lift: float
    lift_interval: Interval | None = Field(
        default=None,
        description="Data side: lift ± 1.96 jackknife standard errors over windows (low ≥ 0).",
    )
    capture: list[float] = Field(description="c_i = ‖Qᵀu_i‖² for the top eigenvectors of K_c.")


class RepresentationSpectrum(BaseModel):
    """Covariance spectrum of H^ℓ."""

    layer: int
    eigenvalues: list[float]
    effective_rank: float = Field(description="exp(−Σ q log q), q = λ/Σλ (RankMe).")
    participation_ratio: float
    alpha: float | None = Field(description="Power-law slope over the middle of the spectrum.")
    anisotropy: float = Field(description="Mean pairwise cosine of the (uncentred) states.")


class HeldOut(BaseModel):
    """Linear predictability of Ḡ^data from H^ℓ: ridge fitted on train, R² on test."""

    layer: int
    r2: float
    ridge: float
    canonical_correlations: list[float] = Field(description="Ridge CCA, in-sample, top k.")
    canonical_correlations_test: list[float] = Field(
        description="Correlations of the train-fitted canonical pairs on test contexts."
    )


class FisherSpectrum(BaseModel):
    """Eigenvalues of the mean pullback Fisher metric at the head."""

    layer: int
    num_contexts: int
    eigenvalues: list[float]
    retained_mass: float = Field(description="Mean probability mass of the kept top tokens.")


class DirichletEnergy(BaseModel):
    """E_K(H^ℓ v)/Var(H^ℓ v) for top Fisher directions v versus random unit v.

    The Fisher directions are those of the head's metric at ``directions_layer`` (the last
    layer L) at every ℓ: below L they are layer-L directions read in layer ℓ's coordinates.
    """

    layer: int
    directions_layer: int | None = Field(
        default=None, description="Layer whose Fisher metric gave v (L); None: older results."
    )
    kernel: KernelName
    side: Side
    fisher: list[float]
    random_mean: float
    random_std: float


class SpectralSuite(BaseModel):
    num_contexts: int
    layers: list[int]
    spectra: list[Spectrum]
    alignment: list[Alignment]
    heldout: list[HeldOut]
    representation: list[RepresentationSpectrum]
    fisher: FisherSpectrum | None = None
    dirichlet: list[DirichletEnergy] = Field(default_factory=list)
    model_side_retained_mass: float = Field(
        default=1.0, description="1.0: model-side kernels summed over the whole vocabulary."
    )
    stage_seconds: dict[str, float] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)
