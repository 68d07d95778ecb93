"""``trustsim pairs`` (Algorithm 1) on runs made by ``trustsim eval`` against a local server."""

from __future__ import annotations

import pytest
from datasets import load_from_disk

from trustsim.cli import main
from trustsim.testing.chat_server import JUDGE_OPENING, ChatServer, Script

ANSWERS = {"weak": "A weak answer.", "good": "A good answer.", "best": "The best answer.", "twin": "The best answer."}
GRADES = {
    "A weak answer.": ("Not Satisfied", 2),
    "A good answer.": ("Satisfied", 4),
    "The best answer.": ("Satisfied", 5),
}


def _reply(model, messages):
    if not messages[0]["content"].startswith(JUDGE_OPENING):
        return ANSWERS[model]
    verdict, score = next(grade for answer, grade in GRADES.items() if answer in messages[0]["content"])
    return f"[[{score}]]" if "rating score" in messages[0]["content"] else f"[[{verdict}]]"


def _eval(server, tmp_path, model, *extra):
    output = tmp_path / model
    args = ["eval", "--model", f"openai:{model}", "--judge", "openai:judge", "--output", str(output),
            "--base-url", server.base_url, "--judge-base-url", server.base_url,
            "--config", "adaorpo", "--split", "train", "--limit", "5", *extra]  # fmt: skip
    assert main(args) == 0
    return output


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("runs")
    with ChatServer(Script(reply=_reply)) as server:
        return {
            "weak": _eval(server, tmp_path, "weak"),
            "good": _eval(server, tmp_path, "good", "--score-self-report"),
            "best": _eval(server, tmp_path, "best", "--score-self-report"),
            "twin": _eval(server, tmp_path, "twin", "--score-self-report"),
            "best-unscored": _eval(server, tmp_path / "u", "best"),
        }


def test_the_highest_scored_satisfied_answer_is_chosen_against_the_targets(runs, tmp_path, capsys):
    output = tmp_path / "pairs"
    assert main(["pairs", "--runs", str(runs["good"]), str(runs["best"]), "--target", str(runs["weak"]),
                 "--output", str(output)]) == 0  # fmt: skip
    pairs = load_from_disk(str(output))
    assert len(pairs) == 10  # 5 instances x 2 question types, all Not Satisfied for the target
    assert set(pairs.column_names) >= {"prompt", "chosen", "rejected", "chosen_score", "id", "question_type",
                                       "dimension", "chosen_model"}  # fmt: skip
    assert set(pairs["chosen_model"]) == {"openai:best"} and set(pairs["chosen_score"]) == {5.0}
    first = pairs[0]
    assert [m["role"] for m in first["prompt"]] == ["system", "user"]
    assert first["chosen"] == [{"role": "assistant", "content": "The best answer."}]
    assert first["rejected"] == [{"role": "assistant", "content": "A weak answer."}]
    assert "10 pairs for openai:weak" in capsys.readouterr().out


def test_ties_go_to_the_run_listed_first(runs, tmp_path):
    # best and twin give the same answer, both scored 5: the order of --runs decides
    for first, second in (("best", "twin"), ("twin", "best")):
        output = tmp_path / first
        assert main(["pairs", "--runs", str(runs["good"]), str(runs[first]), str(runs[second]),
                     "--target", str(runs["weak"]), "--output", str(output)]) == 0  # fmt: skip
        assert set(load_from_disk(str(output))["chosen_model"]) == {f"openai:{first}"}


def test_unscored_self_report_alternatives_are_skipped_counted_and_explained(runs, tmp_path, capsys):
    output = tmp_path / "pairs"
    assert main(["pairs", "--runs", str(runs["best-unscored"]), "--target", str(runs["weak"]),
                 "--output", str(output)]) == 0  # fmt: skip
    pairs = load_from_disk(str(output))
    assert len(pairs) == 5 and set(pairs["question_type"]) == {"open_ended"}
    out = capsys.readouterr().out
    assert "5 alternatives unscored" in out and "--score-self-report" in out


def test_a_satisfied_target_gives_no_pair_and_the_test_split_is_excluded_by_default(runs, tmp_path, capsys):
    output = tmp_path / "pairs"
    assert main(["pairs", "--runs", str(runs["weak"]), "--target", str(runs["good"]), "--output", str(output)]) == 0
    assert len(load_from_disk(str(output))) == 0
    assert "10 target satisfied" in capsys.readouterr().out
    assert main(["pairs", "--runs", str(runs["best"]), "--target", str(runs["weak"]), "--output",
                 str(tmp_path / "p2"), "--split", "test"]) == 0  # fmt: skip
    assert len(load_from_disk(str(tmp_path / "p2"))) == 0  # these runs only cover train instances


def test_pairs_can_be_pushed_with_the_token_from_the_environment(runs, tmp_path, monkeypatch):
    from datasets import Dataset

    pushed = []
    monkeypatch.setattr(Dataset, "push_to_hub", lambda self, repo, **kw: pushed.append((repo, len(self), kw)))
    assert main(["pairs", "--runs", str(runs["best"]), "--target", str(runs["weak"]), "--output",
                 str(tmp_path / "p"), "--push-to-hub", "me/trustsim-pairs", "--private"]) == 0  # fmt: skip
    assert pushed == [("me/trustsim-pairs", 10, {"private": True})]
