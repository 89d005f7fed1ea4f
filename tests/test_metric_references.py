"""One shared tester (torchmetrics' style): every metric a family declares, computed by the core
engine (:func:`harness.stats.evaluate`) from the arrays its family builds, equals an independent
re-implementation (sklearn, scipy, plain numpy loops) on random, tied and degenerate cases;
``None`` in a reference means "undefined", and then the engine must give a reason.  A declared
metric without a reference fails the suite, and so does a reference to an undeclared metric.
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import torch
from scipy import optimize, special, stats
from sklearn import metrics as skm

from harness.families.deception import metrics as dd
from harness.families.fas import metrics as fas
from harness.families.iqa_backdoor import metrics as iqa
from harness.families.iqa_backdoor.family import IqaRecipe, _per_image_backdoor
from harness.families.rppg import metrics as rppg
from harness.families.splicing import metrics as spl
from harness.stats import evaluate

FAMILIES = {"fas": fas.METRICS, "deception": dd.METRICS, "splicing": spl.METRICS, "iqa_backdoor": iqa.METRICS,
            "rppg": rppg.METRICS}


def _none_if_nan(v):
    return None if v is None or not np.isfinite(v) else float(v)


def _two_classes(y) -> bool:
    return len(set(np.asarray(y).tolist())) == 2


# ----------------------------------------------------------------------------- binary references
def bob_eer(s, y):
    """bob.measure's EER by brute force: every candidate threshold (above the max, the midpoints,
    the min), FAR/FRR as exact fractions, the smallest |FAR - FRR| (ties: the highest threshold);
    positive = label 1, accepted iff score >= t.  Returns (EER, threshold)."""
    neg, pos = s[y == 0], s[y == 1]
    u = np.unique(s)[::-1]
    cands = [float(np.nextafter(u[0], np.inf))] + [float((u[i] + u[i + 1]) / 2) for i in range(len(u) - 1)] + [float(u[-1])]
    best = None
    for t in cands:
        far, frr = Fraction(int((neg >= t).sum()), len(neg)), Fraction(int((pos < t).sum()), len(pos))
        if best is None or abs(far - frr) < best[0]:
            best = (abs(far - frr), float((far + frr) / 2), t)
    return best[1], best[2]


def hter_at(s, y, t):
    return ((s[y == 0] >= t).mean() + (s[y == 1] < t).mean()) / 2


def tpr_at_fpr(s, y, target):
    neg, pos = s[y == 0], s[y == 1]
    return max((pos >= t).mean() for t in [*np.unique(s), np.inf] if (neg >= t).mean() <= target)


def apcer_at(s, y, types, t):
    return max((s[(y == 0) & (types == k)] >= t).mean() for k in np.unique(types[y == 0]))


def bpcer20(s, y, types):
    return min((s[y == 1] < t).mean() for t in [*np.unique(s), np.inf] if apcer_at(s, y, types, t) <= 0.05)


def bob_far_threshold(attacks, target):
    """bob.measure's ``far_threshold`` as a plain walk: down the distinct attack scores from the
    top, keep the last one whose acceptance rate count(>= v)/n is still <= target (start: just
    above the highest score)."""
    a = np.sort(attacks)[::-1]
    keep = float(np.nextafter(a[0], np.inf))
    for v in dict.fromkeys(a.tolist()):
        if (a >= v).sum() / a.size > target:
            break
        keep = v
    return keep


def bob_pad_bpcer20_threshold(s, y, types):
    """bob.pad.base's ``calc_threshold("bpcer20")``: the highest per-attack-type far_threshold at 5%;
    ``None`` where bob refuses (a type with fewer than two scores, no attack)."""
    kinds = np.unique(types[y == 0])
    if not kinds.size or any((types[y == 0] == k).sum() < 2 for k in kinds):
        return None
    return max(bob_far_threshold(s[(y == 0) & (types == k)], 0.05) for k in kinds)


def _fas_ref(fn, val=False):
    def ref(c):
        if not _two_classes(c["labels"]) or (val and c["val_threshold"] is None):
            return None
        return fn(c["scores"], c["labels"], c["attack_types"], c["val_threshold"])
    return ref


def _bpcer20_val(c):
    t = bob_pad_bpcer20_threshold(c["val_scores"], c["val_labels"], c["val_types"])
    if t is None or not _two_classes(c["labels"]):
        return None
    return (c["scores"][c["labels"] == 1] < t).mean()  # bob's farfrr: a bona fide below t is rejected


FAS_REFS = {
    "auc": _fas_ref(lambda s, y, k, t: skm.roc_auc_score(y, s)),
    "eer": _fas_ref(lambda s, y, k, t: bob_eer(s, y)[0]),
    "hter_val": _fas_ref(lambda s, y, k, t: hter_at(s, y, t), val=True),
    "hter_test_eer": _fas_ref(lambda s, y, k, t: hter_at(s, y, bob_eer(s, y)[1])),
    "hter_05": _fas_ref(lambda s, y, k, t: hter_at(s, y, 0.5)),
    "tpr_at_fpr_1": _fas_ref(lambda s, y, k, t: tpr_at_fpr(s, y, 1e-2)),
    "tpr_at_fpr_01": _fas_ref(lambda s, y, k, t: tpr_at_fpr(s, y, 1e-3)),
    "apcer": _fas_ref(lambda s, y, k, t: apcer_at(s, y, k, t), val=True),
    "bpcer": _fas_ref(lambda s, y, k, t: (s[y == 1] < t).mean(), val=True),
    "acer": _fas_ref(lambda s, y, k, t: (apcer_at(s, y, k, t) + (s[y == 1] < t).mean()) / 2, val=True),
    "bpcer20": _fas_ref(lambda s, y, k, t: bpcer20(s, y, k)),
    "bpcer20_val": _bpcer20_val,
}


def fas_arrays(c):
    """The arrays the FAS family builds: the test rows and the thresholds set on the val rows."""
    try:
        t = fas.threshold_at_apcer(c["val_scores"], c["val_labels"], c["val_types"], 0.05)
    except ValueError:
        t = None
    return {**c, "val_threshold_bpcer20": t}


def _fas_cases():
    rng = np.random.default_rng(0)
    out = {}
    for name, (n, levels) in {"random": (300, None), "ties": (200, 7), "small": (9, 4)}.items():
        y = (rng.random(n) < 0.4).astype(int)
        y[:2] = [0, 1]
        s = np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0, 1)
        if levels:
            s = np.round(s * levels) / levels
        types = np.where(y == 1, "", rng.choice(["print", "replay", "mask"], n))
        val_y = (rng.random(n) < 0.4).astype(int)
        val_s = np.clip(rng.normal(0.35 + 0.3 * val_y, 0.2), 0, 1)
        if levels:
            val_s = np.round(val_s * levels) / levels
        val_types = np.where(val_y == 1, "", rng.choice(["print", "replay", "mask"], n))
        out[name] = {"scores": s, "labels": y, "attack_types": types, "val_threshold": 0.45, "n": n,
                     "val_scores": val_s, "val_labels": val_y, "val_types": val_types}
    one = out["small"] | {"labels": np.ones(9, int)}
    out["one_class"] = one
    out["no_val_threshold"] = out["ties"] | {"val_threshold": None}
    out["threshold_on_a_score"] = out["ties"] | {"val_threshold": float(out["ties"]["scores"][5])}
    # the val set as the test set: bob's threshold sits on an attack score, which is accepted
    out["val_is_test"] = out["ties"] | {"val_scores": out["ties"]["scores"], "val_labels": out["ties"]["labels"],
                                        "val_types": out["ties"]["attack_types"]}
    out["one_val_attack_of_a_type"] = out["small"] | {
        "val_scores": np.array([0.9, 0.8, 0.2, 0.1, 0.3]), "val_labels": np.array([1, 1, 0, 0, 0]),
        "val_types": np.array(["", "", "print", "print", "replay"])}
    return out


def _dd_ref(name):
    def ref(c):
        s, y, t = c["scores"], c["labels"], c["threshold"]
        pred = (s >= t).astype(int)
        if name in ("auc", "eer", "balanced_accuracy") and not _two_classes(y):
            return None
        return _none_if_nan({
            "accuracy": lambda: skm.accuracy_score(y, pred),
            "error_rate": lambda: 1 - skm.accuracy_score(y, pred),
            "f1_truth": lambda: skm.f1_score(y, pred, pos_label=1, zero_division=np.nan),
            "f1_lie": lambda: skm.f1_score(y, pred, pos_label=0, zero_division=np.nan),
            "balanced_accuracy": lambda: skm.balanced_accuracy_score(y, pred),
            "auc": lambda: skm.roc_auc_score(y, s),
            "eer": lambda: bob_eer(s, y)[0],
        }[name]())
    return ref


DD_REFS = {name: _dd_ref(name) for name in ("accuracy", "error_rate", "f1_truth", "f1_lie", "balanced_accuracy",
                                            "auc", "eer")}


def _dd_cases():
    rng = np.random.default_rng(1)
    y = (rng.random(120) < 0.45).astype(int)
    s = np.round(np.clip(rng.normal(0.4 + 0.2 * y, 0.2), 0, 1), 1)  # many exact 0.5 ties
    return {"random_ties": {"scores": s, "labels": y, "threshold": 0.5},
            "threshold_07": {"scores": s, "labels": y, "threshold": 0.7},
            "one_class_all_lie_predicted_lie": {"scores": np.array([0.1, 0.2, 0.3]), "labels": np.zeros(3, int),
                                                "threshold": 0.5},
            "exactly_half": {"scores": np.array([0.5, 0.5, 0.2, 0.9]), "labels": np.array([0, 1, 0, 1]),
                             "threshold": 0.5}}


# ----------------------------------------------------------------------------- splicing
def _pixel(pred, gt, name):
    """One image's pixel metric by sklearn (None where the harness leaves the image out)."""
    g, p = gt.ravel().astype(int), pred.ravel()
    hard = (p / 255 > 0.5).astype(int)  # IMDL-BenCo: pred > 0.5
    if not g.any():
        return None
    both = not g.all()
    if name == "pixel_f1":
        return skm.f1_score(g, hard)
    if name == "pixel_iou":
        return skm.jaccard_score(g, hard)
    if name == "pixel_mcc":  # sklearn scores a constant prediction 0, as the harness does
        return skm.matthews_corrcoef(g, hard) if both else None
    if name == "pixel_auc":
        return skm.roc_auc_score(g, p) if both else None
    if name == "pixel_f1_oracle":  # every threshold v >= t, t = 0..256, by plain counting
        return max(2 * np.sum((p >= t) & (g == 1)) / (np.sum(p >= t) + g.sum()) for t in range(257))
    raise KeyError(name)


def _per_image_ref(name):
    def ref(c):
        vals = [v for v in (_pixel(p, g, name) for p, g in c["tampered"]) if v is not None]
        return float(np.mean(vals)) if vals else None
    return ref


def _pooled_ref(name):
    def ref(c):
        kept = [(p, g) for p, g in c["tampered"] if g.any()]
        if not kept:
            return None
        p = np.concatenate([p.ravel() for p, _ in kept])
        g = np.concatenate([g.ravel() for _, g in kept]).astype(int)
        hard = (p / 255 > 0.5).astype(int)
        if name in ("pixel_mcc_pooled", "pixel_auc_pooled") and g.all():
            return None
        return {"pixel_f1_pooled": lambda: skm.f1_score(g, hard), "pixel_iou_pooled": lambda: skm.jaccard_score(g, hard),
                "pixel_mcc_pooled": lambda: skm.matthews_corrcoef(g, hard),
                "pixel_auc_pooled": lambda: skm.roc_auc_score(g, p)}[name]()
    return ref


def _image_ref(name):
    def ref(c):
        s, y = c["image_scores"], c["image_labels"]
        hard = (s > 0.5).astype(int)  # IMDL-BenCo's image rule
        if name in ("image_auc", "image_balanced_accuracy") and not _two_classes(y):
            return None
        return _none_if_nan({"image_auc": lambda: skm.roc_auc_score(y, s),
                             "image_accuracy": lambda: skm.accuracy_score(y, hard),
                             "image_f1": lambda: skm.f1_score(y, hard, zero_division=np.nan),
                             "image_balanced_accuracy": lambda: skm.balanced_accuracy_score(y, hard)}[name]())
    return ref


SPL_REFS = {**{n: _per_image_ref(n) for n in spl.PER_IMAGE}, **{n: _pooled_ref(n) for n in spl.POOLED},
            **{n: _image_ref(n) for n in spl.IMAGE_METRICS}}


def splicing_arrays(c):
    """The arrays the splicing family builds (per-image values and histograms of the tampered images)."""
    if not c["tampered"]:
        per = {n: np.array([]) for n in spl.PER_IMAGE}
        pos = neg = None
    else:
        acc = spl.PixelAccumulator()
        acc.update(torch.from_numpy(np.stack([p for p, _ in c["tampered"]])),
                   torch.from_numpy(np.stack([g for _, g in c["tampered"]])))
        r = acc.compute()
        per = {n: np.asarray(r[n], float) for n in spl.PER_IMAGE}
        pos, neg = np.asarray(r["pos_hist"]), np.asarray(r["neg_hist"])
    return {"per_image": per, "pos": pos, "neg": neg, "scores": c["image_scores"], "labels": c["image_labels"]}


def _spl_cases():
    rng = np.random.default_rng(2)
    masks = []
    for k in range(6):
        g = np.zeros((9, 11), bool)
        g[1 + k % 3:6, 2:4 + k] = True
        p = np.clip(g * 150 + rng.normal(60, 50, g.shape), 0, 255).astype(np.uint8)
        masks.append((p, g))
    masks.append((np.full((9, 11), 127, np.uint8), masks[0][1]))   # constant, just below the cut
    masks.append((np.full((9, 11), 128, np.uint8), masks[1][1]))   # constant, on the cut: tampered
    masks.append((masks[2][0], np.zeros((9, 11), bool)))           # empty ground truth: left out
    scores = np.round(rng.random(12), 1)
    scores[2:4] = 0.5  # exactly 0.5: authentic
    labels = (rng.random(12) < 0.6).astype(int)
    labels[:2] = [0, 1]
    full = np.ones((9, 11), bool)
    return {"random": {"tampered": masks, "image_scores": scores, "image_labels": labels},
            "all_tampered_masks": {"tampered": [(masks[0][0], full), (masks[1][0], full)],
                                   "image_scores": scores, "image_labels": np.ones(12, int)},
            "no_tampered_image": {"tampered": [], "image_scores": scores, "image_labels": np.zeros(12, int)}}


# ----------------------------------------------------------------------------- IQA
def _vqeg_plcc(p, g):
    """PLCC after the VQEG 4-parameter logistic, fitted here by a trust-region least squares."""
    if len(p) < 5 or np.ptp(p) == 0 or np.ptp(g) == 0:
        return None
    f = lambda b: (b[0] - b[1]) * special.expit((p - b[2]) / b[3]) + b[1] - g  # noqa: E731
    b = optimize.least_squares(f, [g.max(), g.min(), p.mean(), p.std() / 4], xtol=1e-15, ftol=1e-15, gtol=1e-15).x
    return stats.pearsonr(f(b) + g, g)[0]


def _corr_or_none(fn):
    def ref(c):
        p, g = c["pred"], c["mos"]
        if len(p) < 2 or np.ptp(p) == 0 or np.ptp(g) == 0:
            return None
        return float(fn(p, g))
    return ref


def _attack_ref(name):
    def ref(c):
        if not c.get("backdoor"):
            return None
        p0, dy, tau = c["by_alpha"][0.0], c["delta_y"], c["tau"]
        per_alpha = []
        for a, pa in c["by_alpha"].items():
            if a == 0.0:
                continue
            err = np.abs(pa - (p0 + a * dy))
            per_alpha.append({"shift_ratio": np.mean(pa - p0) / (a * dy), "mae_to_target": err.mean(),
                              "relative_error": np.mean(np.abs((pa - p0) / (a * dy) - 1)),
                              "attack_success_rate": np.mean(err <= tau),
                              "target_srocc": stats.spearmanr(pa, c["mos"] + a * dy)[0]})
        if name == "shift_ratio_error":
            return float(np.mean([abs(r["shift_ratio"] - 1) for r in per_alpha]))
        return float(np.mean([r[name] for r in per_alpha]))
    return ref


def _visibility_ref(name):
    def ref(c):
        v = c.get("visibility", {}).get(name)
        return None if v is None or not np.isfinite(v).any() else float(np.mean(v[np.isfinite(v)]))
    return ref


IQA_REFS = {
    "srocc": _corr_or_none(lambda p, g: stats.spearmanr(p, g)[0]),
    "plcc": _corr_or_none(lambda p, g: stats.pearsonr(p, g)[0]),
    "krcc": _corr_or_none(lambda p, g: stats.kendalltau(p, g, variant="b")[0]),
    "rmse": lambda c: float(np.sqrt(np.mean((c["pred"] - c["mos"]) ** 2))) if len(c["pred"]) else None,
    "plcc_logistic": lambda c: _vqeg_plcc(c["pred"], c["mos"]),
    **{n: _attack_ref(n) for n in ("shift_ratio", "shift_ratio_error", "mae_to_target", "relative_error",
                                   "attack_success_rate", "target_srocc")},
    "psnr": _visibility_ref("psnr"), "ssim": _visibility_ref("ssim"),
}
TOLERANCE = {"plcc_logistic": 1e-6}  # two optimisers converge to the same fit within this


def iqa_arrays(c):
    """The arrays the IQA family builds: clean pairs, and with a backdoor the summary table."""
    arrays = {"pred": c["pred"], "mos": c["mos"], "visibility": c.get("visibility", {})}
    if c.get("backdoor"):
        recipe = IqaRecipe.from_dict({"alphas": list(c["by_alpha"]), "delta_y": c["delta_y"],
                                      "tau": c["tau"]})
        table = iqa.backdoor_table(c["by_alpha"], c["mos"], delta_y=c["delta_y"], tau=c["tau"])
        arrays.update(summary=table["summary"], images=len(c["mos"]), per_image=_per_image_backdoor(c["by_alpha"], recipe))
    return arrays


def _iqa_cases():
    rng = np.random.default_rng(3)
    mos = rng.uniform(10, 90, 40)
    pred = np.round(mos + rng.normal(0, 12, 40))  # rounded: ties in both rankings
    by_alpha = {0.0: pred, 0.5: pred + 0.5 * 20 + rng.normal(0, 4, 40), 1.0: pred + 20 + rng.normal(0, 6, 40),
                -1.0: pred - 15 + rng.normal(0, 6, 40)}
    psnr = np.concatenate([rng.uniform(25, 35, 39), [np.inf]])  # one unchanged image
    return {"backdoor": {"pred": pred, "mos": mos, "backdoor": True, "by_alpha": by_alpha, "delta_y": 20.0,
                         "tau": 5.0, "visibility": {"psnr": psnr, "ssim": rng.uniform(0.6, 0.9, 40)}},
            "clean_only": {"pred": pred[:12], "mos": mos[:12]},
            "constant_prediction": {"pred": np.full(8, 50.0), "mos": mos[:8]},
            "four_images": {"pred": pred[:4], "mos": mos[:4]}}


# ----------------------------------------------------------------------------- rPPG
def _pairs(c):
    keep = np.isfinite(c["hr_pred"]) & np.isfinite(c["hr_gt"])
    return c["hr_pred"][keep], c["hr_gt"][keep]


def _rppg_ref(name):
    def ref(c):
        p, g = _pairs(c)
        if name in ("snr", "macc"):
            v = c["snr_db" if name == "snr" else "macc"]
            return float(np.mean(v[np.isfinite(v)])) if np.isfinite(v).any() else None
        if not len(p) or (name == "mape" and (g == 0).any()):
            return None
        if name == "pearson":
            return None if len(p) < 3 or np.ptp(p) == 0 or np.ptp(g) == 0 else float(stats.pearsonr(p, g)[0])
        return float({"mae": lambda: skm.mean_absolute_error(g, p), "rmse": lambda: math.sqrt(skm.mean_squared_error(g, p)),
                      "mape": lambda: 100 * skm.mean_absolute_percentage_error(g, p)}[name]())
    return ref


RPPG_REFS = {n: _rppg_ref(n) for n in ("mae", "rmse", "mape", "pearson", "snr", "macc")}


def rppg_arrays(c):
    p, g = _pairs(c)
    return {"hr_pred": p, "hr_gt": g, "hr_excluded": int(len(c["hr_pred"]) - len(p)), "snr_db": c["snr_db"],
            "macc": c["macc"]}


def _rppg_cases():
    rng = np.random.default_rng(4)
    gt = rng.uniform(55, 110, 30)
    pred = gt + rng.normal(0, 8, 30)
    pred[3] = np.nan  # a window whose HR could not be estimated
    snr = rng.normal(-2, 4, 30)
    snr[5] = np.nan
    return {"windows": {"hr_pred": pred, "hr_gt": gt, "snr_db": snr, "macc": rng.uniform(0.2, 0.9, 30)},
            "zero_gt_two_windows": {"hr_pred": np.array([60.0, 70.0]), "hr_gt": np.array([0.0, 72.0]),
                                    "snr_db": np.array([1.0, np.nan]), "macc": np.array([np.nan, np.nan])}}


# ----------------------------------------------------------------------------- the shared tester
CASES = {"fas": (_fas_cases(), fas_arrays, FAS_REFS), "deception": (_dd_cases(), lambda c: c, DD_REFS),
         "splicing": (_spl_cases(), splicing_arrays, SPL_REFS), "iqa_backdoor": (_iqa_cases(), iqa_arrays, IQA_REFS),
         "rppg": (_rppg_cases(), rppg_arrays, RPPG_REFS)}
PARAMS = [(fam, name, case) for fam, (cases, _, refs) in CASES.items() for name in refs for case in cases]


def test_every_declared_metric_has_a_reference():
    for fam, specs in FAMILIES.items():
        refs = CASES[fam][2]
        assert set(specs) == set(refs), f"{fam}: metrics without a reference {sorted(set(specs) - set(refs))}, " \
                                        f"references to no metric {sorted(set(refs) - set(specs))}"
        assert all(spec.compute is not None for spec in specs.values()), fam


@pytest.mark.parametrize("family,name,case", PARAMS, ids=["/".join(p) for p in PARAMS])
def test_metric_equals_its_reference(family, name, case):
    cases, build, refs = CASES[family]
    expected = refs[name](cases[case])
    got = evaluate([FAMILIES[family][name]], build(cases[case]), n_boot=0)[name]
    if expected is None:
        assert got.value is None and got.reason.startswith("undefined: "), got
    else:
        assert got.value == pytest.approx(expected, abs=TOLERANCE.get(name, 1e-12)), got


BOOTSTRAPPED = [("fas", "auc", "random"), ("fas", "hter_test_eer", "ties"), ("deception", "f1_lie", "random_ties"),
                ("splicing", "image_auc", "random"), ("iqa_backdoor", "krcc", "backdoor"), ("rppg", "rmse", "windows")]


@pytest.mark.parametrize("family,name,case", BOOTSTRAPPED)
def test_bootstrap_ci_equals_a_plain_resampling_loop(family, name, case):
    """The engine's CI is the percentile interval of the reference over the rows drawn by
    ``default_rng(seed).integers(0, N, (n_boot, N))``, resamples with one class left out."""
    cases, build, refs = CASES[family]
    c = cases[case]
    spec = FAMILIES[family][name]
    got = evaluate([spec], build(c), n_boot=40, seed=11)[name]
    over = {"scores": "image_scores", "labels": "image_labels"} if family == "splicing" else {}
    keys = [over.get(k, k) for k in spec.uncertainty.over]
    if family == "rppg":
        c = {**c, "hr_pred": _pairs(c)[0], "hr_gt": _pairs(c)[1]}
    n = len(c[keys[0]])
    idx = np.random.default_rng(11).integers(0, n, size=(40, n))
    reps = [refs[name]({**c, **{k: c[k][rows] for k in keys}}) for rows in idx]
    reps = np.array([r for r in reps if r is not None and np.isfinite(r)])
    low, high = np.percentile(reps, [2.5, 97.5])
    assert (got.ci_low, got.ci_high) == (pytest.approx(low, abs=1e-12), pytest.approx(high, abs=1e-12))
    assert got.se == pytest.approx(reps.std(ddof=1), abs=1e-12)


def test_bpcer20_threshold_sits_on_an_attack_score_and_the_oracle_is_never_worse():
    """bob.pad.base's rule at its boundary: 20 attacks of one type, 5% = one may pass, so the
    threshold is the highest attack score (accepted), and a bona fide just below it is rejected;
    on the same split the test-set oracle (bpcer20) can only do better than the dev->eval rule."""
    attacks = np.linspace(0.0, 0.6, 20)
    s = np.concatenate([[0.6 - 1e-9, 0.7, 0.9], attacks])
    y = np.array([1, 1, 1] + [0] * 20)
    types = np.array([""] * 3 + ["print"] * 20)
    assert fas.threshold_at_apcer(s, y, types, 0.05) == 0.6 == bob_pad_bpcer20_threshold(s, y, types)
    arrays = fas_arrays({"scores": s, "labels": y, "attack_types": types, "val_threshold": 0.5, "n": len(s),
                         "val_scores": s, "val_labels": y, "val_types": types})
    got = evaluate([fas.METRICS["bpcer20_val"], fas.METRICS["bpcer20"]], arrays, n_boot=0)
    assert got["bpcer20_val"].value == pytest.approx(1 / 3)   # 0.6 - 1e-9 < 0.6: rejected
    assert got["bpcer20"].value == 0.0                       # the oracle accepts above 0.6 - ... : optimistic
    assert not fas.METRICS["bpcer20"].ranked and fas.METRICS["bpcer20_val"].ranked
    assert not fas.METRICS["hter_test_eer"].ranked


def test_splicing_probability_of_exactly_one_half_is_authentic():
    """IMDL-BenCo's ``pred > 0.5``: a constant-0.5 probability map predicts no tampered pixel
    (F1 0, as sklearn on ``p > 0.5``), the next float above 0.5 predicts all; image scores alike."""
    gt = np.zeros((4, 5), bool)
    gt[1:3, 1:4] = True
    half = spl.probability_to_level(np.full((4, 5), 0.5))
    above = spl.probability_to_level(np.full((4, 5), np.nextafter(0.5, 1.0)))
    assert (half == 127).all() and (above == 128).all()
    for mask, expected in ((half, 0.0), (above, skm.f1_score(gt.ravel(), np.ones(20, int)))):
        c = {"tampered": [(mask, gt)], "image_scores": np.array([0.5, np.nextafter(0.5, 1.0)]),
             "image_labels": np.array([1, 0])}
        got = evaluate([spl.METRICS["pixel_f1"], spl.METRICS["image_accuracy"]], splicing_arrays(c), n_boot=0)
        assert got["pixel_f1"].value == pytest.approx(expected)
        assert got["image_accuracy"].value == 0.0  # 0.5 -> authentic (wrong), just above -> tampered (wrong)
