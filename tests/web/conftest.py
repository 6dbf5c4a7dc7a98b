"""The gallery tests' fixtures, defined in web_testkit.py with the helpers the tests import (a test
module imports `web_testkit`, never `conftest`: every test folder has a conftest module, and which
one `import conftest` finds depends on the order pytest loaded them)."""

from web_testkit import gallery, platforms, web_client, web_database

__all__ = ["gallery", "platforms", "web_client", "web_database"]
