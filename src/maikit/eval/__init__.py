"""Evaluation of a submission: official metrics on a split, runtime at the challenge shape,
final score. Reused unchanged by the challenge server."""

from maikit.eval.evaluate import evaluate_model, resolve_submission, run_fidelity, run_runtime

__all__ = ["evaluate_model", "resolve_submission", "run_fidelity", "run_runtime"]
