"""Theory beside simulation for the guidance studies: speciation and collapse of a class mixture
after Biroli, Bonnaire, de Bortoli & Mézard 2024 ("Dynamical regimes of diffusion models", arXiv
2402.18491, Nat. Commun. 15:9957; "BBdBM" below), in this repository's VE units. Pure numpy/scipy.

Units. The studies' mixture: M classes N(μ_k, s² I_d), μ_k ~ N(0, m² I_d) (Classes: m = mean_std,
s = std), equal weights; VE noise x_σ = x_0 + σ z. BBdBM's forward OU x(t) = a e^{−t} + √Δ_t z,
Δ_t = 1 − e^{−2t}, is the same process rescaled: x_OU = e^{−t} x_σ with σ² = e^{2t} − 1
(`ou_time`, `ve_sigma`). Write v = s² + σ² (the class variance of x_σ) and β = log M / d.

Speciation (BBdBM eq. for t_S, their "Λ e^{−2 t_S} = 1"): t_S = ½ log Λ, Λ the top eigenvalue of
Cov[x_0] = s² I + C_μ, C_μ the (1/M) covariance of the class means; σ_S = √(Λ − 1) (as
metrics/speciation.py). `speciation` gives Λ for: the population (M → ∞ at fixed d: s² + m²), a
typical draw (Marchenko–Pastur edge s² + m² (M−1)/M (1 + √(d/(M−1)))² with a Tracy–Widom correction;
≈ s² + m² d/M for M ≪ d: then t_S ≈ ½ log d, Pavasovic et al.'s law), and the given draw (exact).

Collapse (derivation; BBdBM's n data points → the M class means, their kernel variance Δ_t → v).
P(k | x) ∝ exp(−‖x − μ_k‖²/2v) is BBdBM's empirical posterior with n = M points and noise v. Take
x from the mixture: class c, x = μ_c + √v z. The true class has log weight −‖z‖²/2 ≈ −d/2. Given x
(‖x‖² = d r, r → m² + v), the other M − 1 log weights are i.i.d. (a random-energy model): with
u = ‖x − μ‖²/d, the cumulant rate of u is Λ_r(λ) = −½ log(1 − 2λm²) + λ r /(1 − 2λm²), so the
annealed free energy of the others, per coordinate, is
    f_o = β + Λ_r(−1/2v) = β − ½ log(1 + m²/v) − ½          (r = m² + v).
The dominant level is u* = Λ_r'(−1/2v) = v (the wrong classes that matter sit exactly as far as the
true one: the planted/Nishimori property), populated by e^{d(β − I)} classes with
I = ½ log(1 + m²/v). Hence, for d → ∞:
  * v > v_C = m² / (e^{2β} − 1): f_o > −½, the posterior is spread over e^{d s_post} classes with
    entropy rate s_post = β − ½ log(1 + m²/v) (the true class carries e^{−d s_post});
  * v < v_C: the other classes' REM is frozen (count at u* < 1) exactly there, f_o < −½, and the
    posterior condenses onto the true class (collapse). σ_C² = v_C − s², t_C = ½ log(1 + σ_C²).
This is Shannon's random-coding threshold: ½ log(1 + m²/v) is the capacity of the Gaussian channel
x = μ_c + noise. Holds for d → ∞ at fixed β > 0; at finite d the step is smoothed over O(1/√d) in
log v (O(√d) nats of entropy): use the finite-d formula below. The studies' 'sigma_speciation' (the
½-crossing of the mean P(c | x_σ)) measures this collapse (`theory_curves`' 'sigma_half'), not t_S. s → 0 (classes are points, data variance m², n = M): t_C = ½ log(1 + m²/(n^{2/d} − 1)),
BBdBM's Gaussian-data formula (their s(t_C) = s_sep(t_C), `biroli_gaussian_collapse_time`).
Identifiability at σ = 0 (v = s²): iff β < β_c = ½ log(1 + m²/s²) (`identifiability_beta`). The
project's mean field (meanfield.py, `identifiability_beta` metric of distortion.py) uses
β_id = m²/(2(m² + s²)), the first order in m²/v of the same calculation with ‖μ_k‖² frozen: it agrees
with β_c as m²/s² → 0 and lies below it (β_id ≤ β_c, e.g. 0.0294 vs 0.0303 at m/s = 0.25, 0.40 vs
0.80 at m/s = 2). M fixed or M ∝ d: β = log M / d → 0, σ_C² ≈ m² d / (2 log M) → ∞ (always collapse).

Finite d and M (`posterior_entropy_theory(..., method="finite")`): the expectation over the mixture
draw and x of the posterior entropy H = log Z − Σ_k w_k log w_k / Z and of P(c | x) = w_c/Z, exact
up to quadrature: given x, the M − 1 wrong weights are i.i.d. (‖x − μ_k‖²/m² ~ noncentral χ²_d with
noncentrality ‖x‖²/m²), so with φ(t) = E e^{−tW}, ψ(t) = E[W log W e^{−tW}], N = M − 1, a = w_c:
E log Z = log a + ∫ e^{−ta}(1 − φ^N) dt/t, E[a/Z] = a ∫ e^{−ta} φ^N dt,
E[Σ_k W_k log W_k / Z] = N ∫ e^{−ta} φ^{N−1} ψ dt, P(argmax = c) = P(W < a)^N; then averaged over
(‖x‖², ‖z‖²) by Gauss–Hermite quadrature. Any d ≥ 1, M ≥ 2; checked against Monte Carlo to a few
0.01 nats (tests/test_guidance_theory.py).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

# ----------------------------------------------------------------------------------- time maps


def ou_time(sigma):
    """OU time t = ½ log(1 + σ²) of a VE noise level σ (σ² = e^{2t} − 1)."""
    return 0.5 * np.log1p(np.square(np.asarray(sigma, np.float64)))


def ve_sigma(t):
    """VE noise level σ = √(e^{2t} − 1) of an OU time t."""
    return np.sqrt(np.expm1(2.0 * np.asarray(t, np.float64)))


def _check(name, value, lo=0.0, strict=True):
    v = float(value)
    if not np.isfinite(v) or (v <= lo if strict else v < lo):
        raise ValueError(f"{name}: must be {'>' if strict else '≥'} {lo:g}, got {value!r}")
    return v


def _sigma_of_lambda(lam: float) -> float:
    return math.sqrt(lam - 1.0) if lam > 1.0 else float("nan")


# ----------------------------------------------------------------------------------- speciation


def mean_covariance_top(means) -> float:
    """Top eigenvalue of the (1/M) covariance of the class means [M, d] (equal weights), float64."""
    mu = np.asarray(means, np.float64)
    mu = mu - mu.mean(0)
    gram = mu @ mu.T if mu.shape[0] <= mu.shape[1] else mu.T @ mu
    return float(np.linalg.eigvalsh(gram / mu.shape[0])[-1])


def speciation(dim, n_classes, mean_std, std, means=None) -> dict:
    """BBdBM speciation t_S = ½ log Λ, σ_S = √(Λ − 1) (NaN when Λ ≤ 1) of the class mixture.

    Λ = s² + λ_max(C_μ) with four values of λ_max(C_μ): 'population' m² (M ≫ d); 'edge'
    m² (M−1)/M (1 + √(d/(M−1)))², the Marchenko–Pastur edge of the M − 1 degrees of freedom of centred
    Gaussian means (M, d ≫ 1 at any ratio; ≈ m² d/M for d ≫ M); 'typical', that edge with Johnstone's
    Tracy–Widom mean, (m²/M)(a² − 1.2065 a (1/√n + 1/√p)^{1/3}), a = √n + √p, n = M − 3/2,
    p = d − ½ (within 1.5 % of the mean over draws for M ≥ 8, d ≥ 2; 9 % at d = 8, M = 4; the bare
    edge where the correction would remove half of it, e.g. d = 1, M = 2); and
    'draw' (exact, for `means` [M, d], when given). Returns {kind: {'Lambda', 't_S', 'sigma_S'}}.
    Holds for Λ ≫ 1 with a gap below it (BBdBM's large-t argument, e.g. M ≪ d); for M ≫ d the
    mean covariance is isotropic, Λ ≈ s² + m² and there is no sharp speciation."""
    d, M = int(dim), int(n_classes)
    if d < 1 or M < 2:
        raise ValueError(f"n_classes: need dim ≥ 1 and at least 2 classes, got dim={dim}, n_classes={n_classes}")
    m2, s2 = _check("mean_std", mean_std) ** 2, _check("std", std) ** 2
    n, p = M - 1.5, d - 0.5
    a = math.sqrt(n) + math.sqrt(p)
    edge = m2 * (M - 1) / M * (1.0 + math.sqrt(d / (M - 1))) ** 2
    tw = m2 / M * (a * a - 1.2065 * a * (1 / math.sqrt(n) + 1 / math.sqrt(p)) ** (1 / 3))
    tops = {"population": m2, "edge": edge, "typical": tw if tw > 0.5 * edge else edge}
    if means is not None:
        tops["draw"] = mean_covariance_top(means)
    return {k: {"Lambda": s2 + t, "t_S": 0.5 * math.log(s2 + t), "sigma_S": _sigma_of_lambda(s2 + t)}
            for k, t in tops.items()}


# ----------------------------------------------------------------------------------- collapse


def identifiability_beta(mean_std, std) -> float:
    """β_c = ½ log(1 + m²/s²): at σ → 0, d → ∞ the classes of M = e^{βd} are identifiable (the
    posterior condenses on the true class) iff β < β_c (module doc; the Gaussian channel capacity)."""
    return 0.5 * math.log1p((_check("mean_std", mean_std) / _check("std", std)) ** 2)


def collapse(beta, mean_std, std) -> dict:
    """d → ∞ collapse of the class posterior for M = e^{βd}: {'v_C': m²/(e^{2β} − 1), 'sigma_C':
    √(v_C − s²) (0 when v_C ≤ s²: not identifiable even at σ = 0), 't_C': ½ log(1 + σ_C²),
    'beta_c': identifiability_beta, 'identifiable': v_C > s²}. β = 0: inf (sub-exponential M)."""
    b = _check("beta", beta, strict=False)
    m2, s2 = _check("mean_std", mean_std) ** 2, _check("std", std) ** 2
    vc = math.inf if b == 0 else m2 / math.expm1(2.0 * b)
    sc = math.sqrt(max(vc - s2, 0.0))
    return {"v_C": vc, "sigma_C": sc, "t_C": 0.5 * math.log1p(sc * sc) if np.isfinite(sc) else math.inf,
            "beta_c": identifiability_beta(mean_std, std), "identifiable": vc > s2}


def biroli_gaussian_collapse_time(n, dim, var) -> float:
    """BBdBM's closed form for n Gaussian data points of variance `var`: t_C = ½ log(1 + var/(n^{2/d} − 1))."""
    return 0.5 * math.log1p(var / math.expm1(2.0 * math.log(n) / dim))


def biroli_entropy_gap(t, n, dim, var):
    """s(t) − s_sep(t) of BBdBM for Gaussian data of variance `var` (OU time t): s(t) = ½ log(2πe
    (var e^{−2t} + Δ_t)) the entropy rate of P_t, s_sep = log n / d + ½ + ½ log(2π Δ_t). Collapse at its
    root (positive for t < t_C: collapsed)."""
    t = np.asarray(t, np.float64)
    delta = -np.expm1(-2.0 * t)
    s = 0.5 * np.log(2 * np.pi * np.e * (var * np.exp(-2.0 * t) + delta))
    return s - (math.log(n) / dim + 0.5 + 0.5 * np.log(2 * np.pi * delta))


def rem_entropy_rate(sigma, beta, mean_std, std):
    """d → ∞ class-posterior entropy per dimension (nats): max(0, β − ½ log(1 + m²/(s² + σ²)))."""
    v = std**2 + np.square(np.asarray(sigma, np.float64))
    return np.maximum(0.0, beta - 0.5 * np.log1p(mean_std**2 / v))


def _rem_others(kappa: float, beta: float, m2: float, v: float) -> float:
    """Free-energy rate of Σ_{k≠c} w_k^κ (REM over the wrong classes, x typical: r = m² + v)."""
    r = m2 + v

    def tilt(k):  # annealed rate a(κ) and the rate I(κ) of the dominant level
        q = 1.0 + k * m2 / v
        lam, a0 = -k / (2 * v), -0.5 * math.log(q) - k * r / (2 * v * q)
        u = m2 / q + r / q**2
        return beta + a0, lam * u - a0

    ann, rate = tilt(kappa)
    if rate <= beta:
        return ann
    lo, hi = 0.0, kappa  # frozen: f(κ) = κ a(κ_c)/κ_c, I(κ_c) = β (I increases with κ)
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if tilt(mid)[1] <= beta else (lo, mid)
    return kappa * tilt(lo)[0] / lo if lo > 0 else -math.inf


def rem_participation_rate(sigma, beta, mean_std, std):
    """d → ∞ log participation (1/d) log(1/Σ_k P(k|x)²) = 2 f(1) − f(2), f(κ) = max(−κ/2, f_o(κ)) the
    free-energy rate of Σ_k w_k^κ (true class −κ/2; wrong classes: annealed, or frozen below their
    REM temperature). 0 in the collapsed phase; ≤ rem_entropy_rate."""
    m2, s2, b = float(mean_std) ** 2, float(std) ** 2, float(beta)
    out = []
    for s in np.atleast_1d(np.asarray(sigma, np.float64)):
        v = s2 + float(s) ** 2
        f1, f2 = (max(-k / 2, _rem_others(k, b, m2, v)) for k in (1.0, 2.0))
        out.append(max(0.0, 2 * f1 - f2))
    return np.asarray(out).reshape(np.shape(sigma))


# ----------------------------------------------------------------------------------- finite d, M


def _normal_nodes(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Hermite nodes and weights for g ~ N(0, 1), nodes beyond |g| = 5 (weight < 1e-6) dropped."""
    g, w = np.polynomial.hermite_e.hermegauss(k)
    keep = np.abs(g) <= 5.0
    return g[keep], w[keep] / w[keep].sum()


def _finite_one(sigma: float, M: int, m2: float, s2: float, d: int, kr: int, kz: int) -> tuple[float, float, float]:
    """(E H, E P(c|x), P(argmax_k P(k|x) = c)) at one σ, exact up to quadrature (module doc). Log
    weights are shifted by +d/2 (H and P do not depend on a common factor); the argmax is the true
    class iff every wrong class has ‖x − μ_k‖² > v ‖z‖², probability ncx2.sf(v‖z‖²/m²)^N."""
    v, N = s2 + sigma * sigma, M - 1
    rho2 = v / (m2 + v)  # x = √(m²+v) ξ, z = ρ ξ + √(1−ρ²) η
    (gr, wr), (gz, wz) = (_normal_nodes(k) for k in (kr, kz))  # X = F⁻¹(Φ(g)), g ~ N(0, 1)
    qz = stats.norm.cdf(gz)
    H = P = A = 0.0
    for xi2, w_r in zip(stats.chi2.ppf(stats.norm.cdf(gr), d), wr):
        lam = (m2 + v) * xi2 / m2  # ‖x − μ‖²/m² ~ χ'²_d(λ)
        mean, sd = d + lam, math.sqrt(2 * (d + 2 * lam))
        lo_y = max(0.0, mean - (math.sqrt(2 * math.log(N + 1)) + 10) * sd)
        r = np.linspace(math.sqrt(lo_y), math.sqrt(mean + 12 * sd), 801)
        r = 0.5 * (r[1:] + r[:-1])  # midpoints in √y: the χ² density's y^{d/2−1} edge stays integrable
        y = r * r
        lp = stats.ncx2.logpdf(y, d, lam) + np.log(r)  # dy = 2 r dr
        pw = np.exp(lp - lp.max())
        pw /= pw.sum()
        ell = d / 2 - m2 * y / (2 * v)  # wrong-class log weights
        z2 = (1 - rho2) * stats.ncx2.ppf(qz, d, rho2 * xi2 / (1 - rho2))  # ‖z‖² given ‖x‖²
        la = (d - z2) / 2  # true-class log weights
        lo, hi = la.min(), max(la.max(), math.log(N) + ell.max())
        nt = int(np.clip((hi - lo + 50) / 0.3, 200, 20000))
        logt = np.linspace(-hi - 25, -lo + 25, nt)
        dl = logt[1] - logt[0]
        tw = np.exp(logt[:, None] + ell[None, :])
        one_m_phi = np.minimum(-np.expm1(-tw) @ pw, 1 - 1e-16)
        psi = (ell[None, :] * np.exp(ell[None, :] - tw)) @ pw
        log_phi = np.log1p(-one_m_phi)
        t = np.exp(logt)
        ea = np.exp(-t[None, :] * np.exp(la)[:, None])  # [kz, nt]
        e_log = la + ea @ (-np.expm1(N * log_phi)) * dl
        p = np.exp(la) * (ea @ (np.exp(N * log_phi) * t)) * dl
        i2 = ea @ (np.exp((N - 1) * log_phi) * psi * t) * dl
        H += w_r * float(wz @ (e_log - la * p - N * i2))
        P += w_r * float(wz @ p)
        A += w_r * float(wz @ np.exp(N * np.log1p(-stats.ncx2.cdf(v * z2 / m2, d, lam))))
    return H, P, A


def _classes(beta, n_classes, dim) -> tuple[float, int]:
    if (beta is None) == (n_classes is None):
        raise ValueError("n_classes: give exactly one of beta and n_classes")
    if n_classes is None:
        M = max(2, int(round(math.exp(_check("beta", beta, strict=False) * dim))))
    else:
        M = int(n_classes)
        if M < 2:
            raise ValueError(f"n_classes: need at least 2 classes, got {n_classes}")
    return math.log(M) / dim, M


def posterior_quantities(sigma, d, mean_std, std, *, beta=None, n_classes=None, kr: int = 8, kz: int = 16) -> dict:
    """Finite-(d, M) expectations over the mixture draw and x_σ ~ p_σ of the class posterior:
    {'entropy': E H [nats], 'p_true': E P(c | x_σ) for x_σ drawn from class c, 'accuracy': the
    probability that c is the posterior's argmax (metrics.guidance.class_accuracy at σ = 0)} at each σ [n].
    M = n_classes, or round(e^{βd}). Exact up to quadrature: Gauss–Hermite over normal scores of ‖x‖² (kr nodes)
    and of ‖z‖² given ‖x‖² (kz), a log-t grid and an 800-point grid of the wrong-class law (converged to
    1e-4 at d = 48: 6×12 and 20×40 nodes agree); ≈ 0.1 s per σ. It is the mean over mixture draws:
    one draw deviates by the draw-to-draw spread (large for small M; at d = 4, M = 50, σ = 0: 1.2184 nats
    predicted, 1.2142 ± 0.0016 by Monte Carlo with fresh means for each of 2·10⁵ points). p_true is the w = 0 prediction of the guided studies'
    mean-posterior curve (ClassPosterior along conditional trajectories: their marginal is p_σ(·|c))."""
    d = int(d)
    if d < 1:
        raise ValueError(f"d: must be a positive integer, got {d}")
    _, M = _classes(beta, n_classes, d)
    m2, s2 = _check("mean_std", mean_std) ** 2, _check("std", std) ** 2
    sig = np.atleast_1d(np.asarray(sigma, np.float64))
    if np.any(sig < 0):
        raise ValueError("sigma: must be ≥ 0")
    res = np.array([_finite_one(float(s), M, m2, s2, d, kr, kz) for s in sig]).reshape(-1, 3)
    shape = np.shape(sigma)
    return {"entropy": np.maximum(res[:, 0], 0.0).reshape(shape), "p_true": np.clip(res[:, 1], 0, 1).reshape(shape),
            "accuracy": np.clip(res[:, 2], 0, 1).reshape(shape)}


def posterior_entropy_theory(sigma, beta, m, s, d, *, n_classes=None, method: str = "finite"):
    """Predicted E[−Σ_k P(k|x_σ) log P(k|x_σ)] (nats) for x_σ from the mixture with M = round(e^{βd})
    (or n_classes) classes, means ~ N(0, m² I), class std s. method 'finite': exact at this (d, M)
    (posterior_quantities); 'rem': the d → ∞ law d · max(0, β − ½ log(1 + m²/(s² + σ²))) with
    β = log M / d (off by O(√d) nats within ~1/√d of σ_C, module doc)."""
    if method == "finite":
        kw = {"n_classes": n_classes} if n_classes is not None else {"beta": beta}
        return posterior_quantities(sigma, d, m, s, **kw)["entropy"]
    if method == "rem":
        b, _ = _classes(None if n_classes is not None else beta, n_classes, int(d))
        return int(d) * rem_entropy_rate(sigma, b, m, s)
    raise ValueError(f"method: expected 'finite' or 'rem', got {method!r}")


def mean_std_for_accuracy(target, dim, std, *, beta=None, n_classes=None, tol: float = 1e-3) -> float:
    """The mean scale m at which the finite-(d, M) class accuracy at σ = 0 (posterior_quantities'
    'accuracy', averaged over mixture draws) equals `target` ∈ (0, 1), by bisection on log m (the
    accuracy rises with m/s); relative tolerance `tol`. For choosing a separated regime."""
    t = float(target)
    if not 0 < t < 1:
        raise ValueError(f"target: must lie in (0, 1), got {target!r}")
    kw = {"n_classes": n_classes} if n_classes is not None else {"beta": beta}
    acc = lambda m: float(posterior_quantities(0.0, dim, m, std, **kw)["accuracy"])  # noqa: E731
    lo, hi = 1e-3 * std, 10.0 * std
    while acc(hi) < t:
        lo, hi = hi, 10 * hi
    while hi / lo > 1 + tol:
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if acc(mid) < t else (lo, mid)
    return math.sqrt(lo * hi)


def half_crossing(sigmas, p_true, level=0.5) -> float:
    """The largest σ at which a posterior curve p(σ) reaches `level` (linear interpolation), NaN if never."""
    s, p = np.asarray(sigmas, np.float64), np.asarray(p_true, np.float64)
    order = np.argsort(s)[::-1]
    s, p = s[order], p[order]
    for i in range(len(s) - 1):
        if (p[i] - level) * (p[i + 1] - level) <= 0 and p[i] != p[i + 1]:
            return float(s[i] + (level - p[i]) / (p[i + 1] - p[i]) * (s[i + 1] - s[i]))
    return float("nan")


def theory_curves(sigmas, *, dim, mean_std, std, beta=None, n_classes=None, means=None, finite: bool = True) -> dict:
    """Everything a guidance figure can overlay, for one mixture setting, on the σ grid `sigmas` [n]:
      'sigma', 't' [n];  'entropy_rem', 'participation_rem' [n] (d → ∞ laws × d, nats / log PR);
      'entropy', 'p_true', 'accuracy' [n] (finite d, M; only when `finite`): E H, E P(c | x_σ) and
      P(argmax = c) (posterior_quantities); 'accuracy_0': that accuracy at σ = 0 (w = 0 class accuracy);
      scalars 'sigma_S' (typical draw), 'sigma_S_population', 'sigma_S_draw' (when `means` [M, d] is
      given), 'sigma_C' (REM collapse), 'sigma_half' (where the finite p_true crosses (1 + 1/M)/2, the
      level metrics.guidance.speciation_sigma uses; NaN without `finite`), 'beta' (= log M / d),
      'beta_c', 'n_classes'. M = n_classes, or round(e^{β dim})."""
    b, M = _classes(beta, n_classes, int(dim))
    sig = np.asarray(sigmas, np.float64)
    spec = speciation(dim, M, mean_std, std, means)
    col = collapse(b, mean_std, std)
    out = {"sigma": sig, "t": ou_time(sig), "n_classes": M, "beta": b, "beta_c": col["beta_c"],
           "sigma_C": col["sigma_C"], "sigma_S": spec["typical"]["sigma_S"],
           "sigma_S_population": spec["population"]["sigma_S"],
           "sigma_S_draw": spec["draw"]["sigma_S"] if "draw" in spec else float("nan"),
           "entropy_rem": int(dim) * rem_entropy_rate(sig, b, mean_std, std),
           "participation_rem": int(dim) * rem_participation_rate(sig, b, mean_std, std),
           "sigma_half": float("nan")}
    if finite:
        q = posterior_quantities(sig, dim, mean_std, std, n_classes=M)
        out.update(entropy=q["entropy"], p_true=q["p_true"], accuracy=q["accuracy"],
                   accuracy_0=float(posterior_quantities(0.0, dim, mean_std, std, n_classes=M)["accuracy"]),
                   sigma_half=half_crossing(sig, q["p_true"], 0.5 * (1 + 1 / M)))
    return out
