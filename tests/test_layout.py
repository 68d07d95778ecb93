"""The package's layout rules, its public API and the one way a command line becomes an EvalConfig."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import trustsim
from trustsim.cli import build_parser
from trustsim.evaluation.config import EvalConfig, eval_config_from_flags

PACKAGE = Path(trustsim.__file__).parent
#: Stages from the bottom up: a module may import its own stage and the ones below, never one above.
ORDER = ("dataset", "backends", "evaluation", "training", "integrations", "cli", "__main__")
SHARED = {
    *("schema", "records", "runs", "hub", "paths", "defaults", "formatting", "secrets", "_lazy"),
    *("testing", "adaorpo", "__init__"),
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("trustsim."):
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names if alias.name.startswith("trustsim."))
    return names


def _stage(module: str) -> str:
    return module.split(".")[1]


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_a_stage_above_its_own(path: Path) -> None:
    own = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
    if own in SHARED:
        # Shared pieces sit below every stage (testing and the adaorpo alias may use anything).
        if own not in {"testing", "adaorpo", "__init__"}:
            assert all(_stage(m) in SHARED for m in _imports(path)), _imports(path)
        return
    for module in _imports(path):
        stage = _stage(module)
        if stage in SHARED:
            continue
        assert ORDER.index(stage) <= ORDER.index(own), f"{path.name} ({own}) imports {module} ({stage})"


def test_the_public_api_is_lazy_and_complete() -> None:
    code = (
        "import sys, trustsim, trustsim.cli; "
        "heavy = [m for m in ('torch', 'transformers', 'trl', 'evaluate', 'matplotlib', 'inspect_ai', 'lm_eval')"
        " if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    for name in ("run_eval", "EvalConfig", "load_trustsim", "validate_path", "make_pairs"):
        assert callable(getattr(trustsim, name)), name
    assert trustsim.EvalConfig is EvalConfig
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = trustsim.nope


def test_the_adaorpo_names_resolve_through_the_public_api_and_the_contract_path() -> None:
    from trustsim.adaorpo import AdaORPOConfig, AdaORPOTrainer

    assert trustsim.AdaORPOConfig is AdaORPOConfig and trustsim.AdaORPOTrainer is AdaORPOTrainer


def _config(argv: list[str]) -> EvalConfig:
    args = build_parser().parse_args(argv)
    return eval_config_from_flags(vars(args), args.eval_config)


def test_an_eval_config_file_gives_defaults_and_flags_override_it(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(
        "model: openai:from-file\njudges: [openai:judge-a, openai:judge-b]\noutput: runs/from-file\n"
        "dataset_config: adaorpo\nsplit: test\nlimit: 7\nsampling: {temperature: 0.2}\n"
        "backend_options: {concurrency: 3}\nscore_self_report: true\n"
    )
    config = _config(["eval", "--eval-config", str(path)])
    assert (config.model, config.judges, config.output) == ("openai:from-file", ["openai:judge-a", "openai:judge-b"],
                                                          Path("runs/from-file"))  # fmt: skip
    assert (config.dataset_config, config.split, config.limit) == ("adaorpo", "test", 7)
    assert config.sampling.temperature == 0.2 and config.sampling.max_new_tokens == 512  # the rest: defaults
    assert config.backend_options == {"concurrency": 3} and config.score_self_report is True

    config = _config(["eval", "--eval-config", str(path), "--model", "openai:flag", "--limit", "2",
                      "--temperature", "0.9", "--concurrency", "5", "--output", str(tmp_path / "x")])  # fmt: skip
    assert (config.model, config.limit, config.sampling.temperature) == ("openai:flag", 2, 0.9)
    assert config.backend_options["concurrency"] == 5 and config.output == tmp_path / "x"
    assert config.judges == ["openai:judge-a", "openai:judge-b"]  # not given on the command line: the file's


def test_the_command_line_alone_takes_the_defaults() -> None:
    config = _config(["eval", "--model", "mock:m", "--judge", "mock:j", "--output", "runs/m"])
    assert config.sampling.max_new_tokens == 512 and config.judge_sampling.temperature == 0.0
    assert config.verdict_method == "parse" and config.score_self_report is False and config.backend_options == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("model: [unclosed", "not valid YAML"),
        ("- a list", "a mapping of EvalConfig fields"),
        ("output: runs/x\nmodle: openai:typo", "unknown key(s) modle"),
        ("output: runs/x\nsampling: {temprature: 1}", "sampling takes"),
        ("model: openai:x", "no run directory"),
    ],
)
def test_a_bad_eval_config_is_one_line_naming_the_file(tmp_path: Path, text: str, message: str, capsys) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    assert trustsim.cli.main(["eval", "--eval-config", str(path), "--judge", "mock:j"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and str(path) in err and len(err.splitlines()) == 1
