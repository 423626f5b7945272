"""yaml_source: one parse into plain values, every mistake one line naming file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from zeta_console.yaml_source import ConfigError, ConfigErrors, YamlSource, dotted, parse_yaml, read_yaml

FLEET = """\
# a comment first
hosts:
  - name: a
    models:
      - m1
      - {name: m2, speed: 2}
time_scale: 4
"""


def error_of(text: str, label: str = "") -> str:
    with pytest.raises(ConfigError) as caught:
        parse_yaml("f.yaml", text, syntax_label=label)
    assert caught.value.exit_code == 2
    return str(caught.value)


def fleet() -> YamlSource:
    return parse_yaml("f.yaml", FLEET)


def test_plain_values_with_the_line_of_every_value() -> None:
    source = fleet()
    assert source.root == {"hosts": [{"name": "a", "models": ["m1", {"name": "m2", "speed": 2}]}], "time_scale": 4}
    assert type(source.root) is dict and type(source.root["hosts"]) is list
    assert source.line(()) == 2
    assert source.line(("hosts",)) == 3  # a block list starts at its first item, below its key
    assert source.line(("hosts", 0, "models", 1, "speed")) == 6
    assert source.line(("time_scale",)) == 7


def test_a_key_the_file_leaves_out_is_placed_at_its_nearest_parent() -> None:
    assert fleet().line(("hosts", 0, "models", 1, "decode_tps")) == 6
    assert fleet().line(("hosts", 5, "name")) == 3


def test_an_empty_file_has_no_root() -> None:
    source = parse_yaml("f.yaml", "# nothing yet\n")
    assert source.root is None and source.line(("anything",)) == 1


def test_dotted_keys() -> None:
    assert dotted(()) == ""
    assert dotted(("hosts", 0, "models", 1, "name")) == "hosts[0].models[1].name"
    assert dotted((0, "fault")) == "[0].fault"


def test_errors_name_file_line_and_dotted_key() -> None:
    error = fleet().error(("hosts", 0, "models", 1, "speed"), "too fast")
    assert str(error) == "f.yaml:6: hosts[0].models[1].speed: too fast"
    assert (error.file, error.line, error.key, error.problem) == ("f.yaml", 6, "hosts[0].models[1].speed", "too fast")


@pytest.mark.parametrize(
    ("label", "message"),
    [
        ("", "f.yaml:2: expected ',' or ']', but got '<stream end>' (while parsing a flow sequence)"),
        ("yaml", "f.yaml:2: yaml: expected ',' or ']', but got '<stream end>' (while parsing a flow sequence)"),
    ],
)
def test_a_syntax_error_is_one_line(label: str, message: str) -> None:
    assert error_of("hosts: [a\n", label) == message


def test_a_tag_that_would_run_code_is_refused() -> None:
    assert (
        error_of("x: !!python/object:os.system a\n")
        == "f.yaml:1: could not determine a constructor for the tag 'tag:yaml.org,2002:python/object:os.system'"
    )


def test_a_duplicate_key_is_refused_where_it_repeats() -> None:
    assert error_of("a:\n  b: 1\n  b: 2\n") == "f.yaml:3: a.b: duplicate key"


def test_a_key_must_be_a_name() -> None:
    assert error_of("a:\n  [1, 2]: x\n") == "f.yaml:2: a: expected a name as key"
    assert error_of('a:\n  "": x\n') == "f.yaml:2: a: expected a name as key"


def test_keys_are_the_names_as_written() -> None:
    assert parse_yaml("f.yaml", "1: a\ntrue: b\n").root == {"1": "a", "true": "b"}


def test_an_alias_into_its_own_collection_is_refused() -> None:
    # an alias is the anchored node itself, so the line is the anchor's
    assert error_of("a: &loop\n  - *loop\n") == "f.yaml:1: a[0]: an alias refers to a collection that contains it"


def test_an_alias_is_read_where_it_is_used() -> None:
    assert parse_yaml("f.yaml", "a: &x {b: 1}\nc: *x\n").root == {"a": {"b": 1}, "c": {"b": 1}}


def test_wrong_types_say_what_was_found() -> None:
    source = fleet()
    with pytest.raises(ConfigError, match=r"^f\.yaml:3: hosts: expected a mapping, got a list$"):
        source.mapping(source.root["hosts"], ("hosts",))
    with pytest.raises(ConfigError, match=r'^f\.yaml:5: hosts\[0\]\.models\[0\]: expected a list, got "m1"$'):
        source.sequence("m1", ("hosts", 0, "models", 0))


def test_an_unknown_key_is_named_at_its_own_line() -> None:
    source = parse_yaml("f.yaml", "thresholds:\n  queue: 1\n  qeue:\n    - 2\n")
    mapping = source.root["thresholds"]
    with pytest.raises(ConfigError, match=r'^f\.yaml:3: thresholds\.qeue: unknown key "qeue"; did you mean "queue"\?$'):
        source.check_keys(mapping, ("thresholds",), ["queue", "ttft_s"])
    with pytest.raises(ConfigError, match=r'^f\.yaml:2: thresholds\.queue: unknown tier "queue" \(expected one of: a, b\)$'):
        source.check_keys(mapping, ("thresholds",), ["a", "b"], noun="tier")


def test_a_field_is_converted_or_defaulted() -> None:
    source = fleet()
    host = source.root["hosts"][0]

    def positive(value: object) -> int:
        if not isinstance(value, int) or value <= 0:
            raise ValueError(f"expected a positive number, got {value!r}")
        return value

    assert source.field(source.root, (), "time_scale", positive, 1) == 4
    assert source.field(host, ("hosts", 0), "port", positive, 7) == 7
    with pytest.raises(ConfigError, match=r"^f\.yaml:3: hosts\[0\]\.name: expected a positive number, got 'a'$"):
        source.field(host, ("hosts", 0), "name", positive, 1)


def test_reading_a_file(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_text("a: 1\n")
    assert read_yaml(path).root == {"a": 1} and read_yaml(path).path == str(path)
    with pytest.raises(ConfigError, match=r"nope\.yaml: no such file$"):
        read_yaml(tmp_path / "nope.yaml")
    path.write_bytes(b"a: \xff\n")
    with pytest.raises(ConfigError, match=r"f\.yaml: cannot read: .*utf-8"):
        read_yaml(path)


def test_aliases_that_expand_too_far_are_refused_at_the_alias_before_building() -> None:
    def aliases(count: int) -> str:
        return "a: &a [" + ", ".join(["x"] * 999) + "]\n" + "".join(f"b{n}: *a\n" for n in range(count))

    # each alias adds 1,000 values (the list and its items): the 101st alias, on line 102, goes past the bound
    assert error_of(aliases(200)) == "f.yaml:102: aliases expand to more than 100000 values"
    assert len(parse_yaml("f.yaml", aliases(100)).root) == 101


def test_nesting_deeper_than_the_bound_is_refused_on_one_line() -> None:
    assert error_of("a: " + "[" * 100 + "]" * 100 + "\n") == "f.yaml:1: nested more than 64 levels deep"
    assert parse_yaml("f.yaml", "a: " + "[" * 60 + "]" * 60 + "\n").root is not None


def test_an_unknown_tag_on_a_collection_is_refused_like_one_on_a_scalar() -> None:
    assert error_of("x: !!python/object/apply:os.system [echo]\n") == (
        "f.yaml:1: could not determine a constructor for the tag 'tag:yaml.org,2002:python/object/apply:os.system'"
    )


def test_every_key_mistake_is_reported_at_once() -> None:
    with pytest.raises(ConfigErrors) as caught:
        parse_yaml("f.yaml", "a: 1\na: 2\nb:\n  [1]: x\n")
    assert str(caught.value) == "f.yaml:2: a: duplicate key\nf.yaml:4: b: expected a name as key"
    assert [error.line for error in caught.value.errors] == [2, 4]
