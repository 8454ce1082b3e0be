"""The model zoo: every solution of both challenge reports, by name.

``create_model("isp/smallnet")``, ``list_models("depth")``, ``get_model_entry(name)``.
"""

from maikit.models._registry import ModelEntry, create_model, get_model_entry, list_models, register_model, resolve_model_name
from maikit.models.recipe import LossTerm, Recipe, Recipes, Stage, TrainHooks, terms

# the zoo: importing each task package runs its modules' @register_model (one line per package)
from maikit.models import depth, isp  # noqa: E402,F401  isort: skip

__all__ = [
    "ModelEntry", "create_model", "get_model_entry", "list_models", "register_model", "resolve_model_name",
    "LossTerm", "Recipe", "Recipes", "Stage", "TrainHooks", "terms",
]
