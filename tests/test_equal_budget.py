"""recipes/equal_budget.py: the shipping rule reads validation scores only, ties fail, unprobed tasks never pass."""

import importlib.util
import json
from pathlib import Path

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "equal_budget.py"


def load_recipe():
    spec = importlib.util.spec_from_file_location("equal_budget", RECIPE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def scores(valid: float, test: float) -> dict:
    return {"valid_score": valid, "score": test, "erank": 1.0}


def test_gate_uses_validation_only_and_a_tie_fails():
    recipe = load_recipe()
    tasks = ["a", "b"]
    table = {
        "log-mel": {"a": scores(0.5, 0.5), "b": scores(0.5, 0.5)},
        "twin": {"a": scores(0.6, 0.9), "b": scores(0.6, 0.9)},
        # above both on validation, far below on test: passes (test is never looked at)
        "good": {"a": scores(0.7, 0.1), "b": scores(0.61, 0.1)},
        # equal to its twin on one task: fails
        "tie": {"a": scores(0.7, 0.99), "b": scores(0.6, 0.99)},
        # one task not probed yet: does not pass
        "partial": {"a": scores(0.9, 0.9)},
    }
    passes, margin, failed, missing = recipe.gate(table, "good", "twin", tasks)
    assert passes and failed == [] and missing == [] and abs(margin - (0.1 + 0.01) / 2) < 1e-9
    assert recipe.gate(table, "tie", "twin", tasks)[:3:2] == (False, ["b"])
    passes, _, failed, missing = recipe.gate(table, "partial", "twin", tasks)
    assert not passes and failed == [] and missing == ["b"]


def test_decision_ships_the_passing_candidate_with_the_larger_margin(tmp_path, monkeypatch):
    recipe = load_recipe()
    monkeypatch.setattr(recipe, "TASK_ORDER", ("a",))
    monkeypatch.setattr(recipe, "INCUMBENTS", {"byol_a": "byol-a-2048.old"})
    run = recipe.Run("cand", "vibcreg", "byol_a", "conv")
    monkeypatch.setattr(recipe, "RUNS", [run])
    runs = tmp_path / "runs"
    (runs / "cand").mkdir(parents=True)
    (runs / "cand" / "w.safetensors").write_bytes(b"x")
    values = {"log-mel": 0.5, "random-conv": 0.6, "cand": 0.7, "incumbent-byol_a": 0.65, "random-incumbent-byol_a": 0.6}
    for label, valid in values.items():
        out = runs / "probe" / label / "a.json"
        out.parent.mkdir(parents=True)
        out.write_text(json.dumps({"tasks": {"a": {"metric": "m", "scores": {label: scores(valid, 0.0)}}}}))

    class Args:
        pass

    args = Args()
    args.runs, args.conformer, args.only = str(runs), False, None
    rows, decisions = recipe.decide(args)
    assert {row["label"]: row["passes"] for row in rows} == {"cand": True, "incumbent-byol_a": True}
    assert decisions["byol_a"] == {"verdict": "ship cand", "choice": "cand"}
