import pytest

from baton.pipelines.config import ConfigError, load_settings
from baton.pipelines.models import Role
from baton.pipelines.redact import redact
from baton.pipelines.trust import TrustStore, WorkspaceNotTrusted


def test_defaults_without_any_layer(tmp_path):
    s = load_settings(tmp_path, env={})
    assert s.role(Role.planner).model and s.role(Role.implementer).model
    assert s.test_command is None and s.needs_confirmation is True
    assert s.api_key is None


def test_precedence_arguments_over_env_over_file_over_defaults(tmp_path):
    (tmp_path / "baton.toml").write_text(
        'test-command = "pytest -x"\nmax_turns = 7\n[roles.planner]\nmodel = "file-planner"\n'
        'reasoning_effort = "low"\n[roles.implementer]\nmodel = "file-coder"\n'
    )
    env = {"BATON_PLANNER_MODEL": "env-planner", "BATON_MAX_TURNS": "9", "OPENAI_API_KEY": "sk-test-123456789",
           "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    TrustStore.for_env(env).grant(tmp_path, {"test_command": "pytest -x"}, "baton.toml")  # `baton trust`
    s = load_settings(tmp_path, overrides={"models": {"implementer": "arg-coder"}}, env=env)
    assert s.role("planner").model == "env-planner"          # env beats file
    assert s.role("planner").reasoning_effort == "low"       # file beats default, untouched by env
    assert s.role("implementer").model == "arg-coder"        # argument beats file
    assert s.role("reviewer").model == "o4-mini"             # default kept
    assert s.test_command == "pytest -x" and s.max_turns == 9
    assert s.api_key_value() == "sk-test-123456789"
    assert "sk-test-123456789" not in repr(s) and "sk-test-123456789" not in s.model_dump_json()


def test_pyproject_tool_baton_section(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname="x"\n[tool.baton]\ntest_command = "make test"\n')
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    with pytest.raises(WorkspaceNotTrusted, match=r"pyproject.toml \[tool.baton\]: `test_command` comes from"):
        load_settings(tmp_path, env=env)
    TrustStore.for_env(env).grant(tmp_path, {"test_command": "make test"}, "pyproject.toml")
    assert load_settings(tmp_path, env=env).test_command == "make test"


def test_lsp_camel_case_options(tmp_path):
    s = load_settings(tmp_path, overrides={"testCommand": "tox", "needsConfirmation": False,
                                           "baseUrl": "http://h/v1", "models": {"reviewer": "r1"}}, env={})
    assert (s.test_command, s.needs_confirmation, s.base_url, s.role("reviewer").model) == ("tox", False, "http://h/v1", "r1")


def test_bad_value_in_file_names_file_key_and_expectation(tmp_path):
    (tmp_path / "baton.toml").write_text('max_turns = "many"\n')
    with pytest.raises(ConfigError) as e:
        load_settings(tmp_path, env={})
    msg = str(e.value)
    assert "baton.toml" in msg and "max_turns" in msg and "integer" in msg


def test_unknown_key_in_pyproject_suggests_the_right_one(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.baton]\ntest_comand = "pytest"\n')
    with pytest.raises(ConfigError) as e:
        load_settings(tmp_path, env={})
    assert "pyproject.toml [tool.baton]" in str(e.value)
    assert "test_comand" in str(e.value) and "did you mean `test_command`" in str(e.value)


def test_bad_role_field_and_unknown_role(tmp_path):
    (tmp_path / "baton.toml").write_text('[roles.planner]\nreasoning_effort = "extreme"\n')
    with pytest.raises(ConfigError, match=r"roles\.planner\.reasoning_effort"):
        load_settings(tmp_path, env={})
    (tmp_path / "baton.toml").write_text('[roles.painter]\nmodel = "x"\n')
    with pytest.raises(ConfigError, match="painter"):
        load_settings(tmp_path, env={})


def test_invalid_toml_is_reported_with_the_file(tmp_path):
    (tmp_path / "baton.toml").write_text("max_turns = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(tmp_path, env={})


def test_bad_env_value_names_the_environment(tmp_path):
    with pytest.raises(ConfigError, match="environment.*concurrency"):
        load_settings(tmp_path, env={"BATON_CONCURRENCY": "0"})


def test_temperature_only_for_models_that_accept_it(tmp_path):
    s = load_settings(tmp_path, overrides={"roles": {"planner": {"model": "o3", "temperature": 0.2},
                                                     "implementer": {"model": "gpt-4.1", "temperature": 0.2}}}, env={})
    assert not s.role("planner").sends_temperature
    assert s.role("implementer").sends_temperature


def test_api_key_is_redacted_everywhere_once_loaded(tmp_path):
    load_settings(tmp_path, env={"OPENAI_API_KEY": "my-very-secret-key"})
    assert redact("key=my-very-secret-key!") == "key=[REDACTED]!"
    assert "sk-abcdefghijkl" not in redact("Authorization: Bearer sk-abcdefghijkl")


@pytest.mark.parametrize("toml, flags, key", [
    ('[roles.planner]\nmodle = "x"\n', {"models": {"reviewer": "r-model"}}, "roles.planner.modle"),
    ('[roles.planner]\ntemperature = 9\n', {"models": {"planner": "p-model"}}, "roles.planner.temperature"),
])
def test_a_bad_baton_toml_value_is_blamed_on_baton_toml_when_a_flag_sets_the_same_table(tmp_path, toml, flags, key):
    (tmp_path / "baton.toml").write_text(toml)
    with pytest.raises(ConfigError) as e:
        load_settings(tmp_path, overrides=flags, env={}, overrides_source="command-line flags")
    assert e.value.source == str(tmp_path / "baton.toml") and e.value.key == key


def test_a_bad_flag_is_still_blamed_on_the_flags(tmp_path):
    (tmp_path / "baton.toml").write_text('[roles.planner]\nmodel = "p"\n')
    with pytest.raises(ConfigError) as e:
        load_settings(tmp_path, overrides={"models": {"planner": {"temperature": 9}}}, env={},
                      overrides_source="command-line flags")
    assert e.value.source == "command-line flags" and e.value.key == "roles.planner.temperature"
