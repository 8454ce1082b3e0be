"""The platform tests' fixtures. They live in ``platform_testing.py``, a module name no other test
folder uses, so that test modules (and the browser tests) import its helpers by that name: every
test folder has a ``conftest``, and ``from conftest import ...`` picks whichever was loaded first."""

from platform_testing import *  # noqa: F401,F403  (the fixtures and helpers)
