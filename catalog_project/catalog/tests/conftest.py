import pytest

pytest.register_assert_rewrite("catalog.tests.reads")
