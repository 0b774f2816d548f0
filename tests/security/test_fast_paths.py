"""Red team of two shortcuts: the output guardrail's all-cached-clean fast path and the suffix check.

1. ``Guard.protect_output`` returns an answer untouched when every string is cached with no detections and
   there is no placeholder to restore. Each test here builds a case where the same (or a related) text must
   still be acted on, and checks the fast path gives what the slow path (``protect_output_sync``) gives.
2. ``suffixes.has_registrable_domain`` replaced tldextract in the e-mail recognizer: it is compared with the old
   check on odd inputs and a seeded fuzz, and must never raise (an exception in a scan is an analyzer failure).
"""

from __future__ import annotations

import asyncio
import copy
import json
import random
from typing import Any

import pytest

from loomllm._guardrails import Guard, GuardrailsConfig
from loomllm._guardrails.vault import Vault
from loomllm._litellm import litellm_module
from loomllm.errors import GuardrailViolation
from loomllm.testing import Reply, WireServer

GITHUB_TOKEN = "ghp_R8f2KqLm4Xz7Tn1Vb9Wc3Yd6Ep0Hs5Ju2Ag4"
EMAIL = "jane.doe@acme-corp.com"


def _config(**extra: Any) -> GuardrailsConfig:
    return GuardrailsConfig.model_validate(
        {
            "default": "lenient",
            "profiles": {
                "lenient": {"output": {"SECRET": {"action": "block", "threshold": 1.0}, "default": "allow"}},
                "strict": {"output": {"SECRET": "block", "EMAIL_ADDRESS": "redact", "default": "allow"}},
                "norestore": {"restore": False},
            },
            **extra,
        }
    )


def _response(content: str | None = None, *, arguments: str | None = None, choices: int = 1,
              provider_fields: dict[str, Any] | None = None) -> Any:
    types = litellm_module().types.utils
    tool_calls = None
    if arguments is not None:
        tool_calls = [types.ChatCompletionMessageToolCall(id="c1", type="function",
                                                         function=types.Function(name="f", arguments=arguments))]
    built = []
    for index in range(choices):
        message = types.Message(role="assistant", content=content, tool_calls=copy.deepcopy(tool_calls))
        if provider_fields is not None:
            message.provider_specific_fields = provider_fields
        built.append(types.Choices(index=index, message=message, finish_reason="stop"))
    return types.ModelResponse(choices=built)


def _out(guard: Guard, response: Any, vault: Vault | None = None) -> Any:
    return asyncio.run(guard.protect_output(response, vault if vault is not None else guard.new_vault(), agent="rt"))


def _twin(vault: Vault) -> Vault:
    """A vault issuing the same placeholders for the same values (a Vault holds a lock: no deepcopy)."""
    twin = Vault()
    for placeholder, value in vault._value_by_placeholder.items():
        twin.placeholder_for(placeholder[1:].rsplit("_", 1)[0], value)
    return twin


def _same_as_slow_path(guard: Guard, response: Any, vault: Vault) -> None:
    """The async (fast-path) result equals the sync (always full) result, or both raise the same violation."""
    slow_vault, fast_vault = _twin(vault), vault
    try:
        slow = guard.protect_output_sync(copy.deepcopy(response), slow_vault, agent="rt")
    except GuardrailViolation as exc:
        with pytest.raises(GuardrailViolation) as fast_exc:
            _out(guard, response, fast_vault)
        assert [f.entity_type for f in fast_exc.value.findings] == [f.entity_type for f in exc.findings]
        return
    fast = _out(guard, response, fast_vault)
    assert fast.model_dump() == slow.model_dump()


# --- 1. the output fast path ------------------------------------------------------------------------------------


class TestOutputFastPath:
    def test_text_cached_by_a_lenient_profile_is_still_redacted_by_a_strict_one(self) -> None:
        """Held: a profile that allows a finding still caches the detection, so another profile acts on it."""
        config = _config()
        lenient, strict = Guard.from_config(config, "lenient"), Guard.from_config(config, "strict")
        text = f"Mail {EMAIL} now (rt-profiles)"
        assert _out(lenient, _response(text)).choices[0].message.content == text
        assert lenient.scanner.cached(text) not in (None, ())
        answer = _out(strict, _response(text)).choices[0].message.content
        assert EMAIL not in answer and "<EMAIL_ADDRESS_1>" in answer

    def test_two_configs_with_one_scanner_share_only_detections(self) -> None:
        """Held: equal analyzer settings share a scanner; a below-threshold secret in one is blocked in the other."""
        lenient = Guard.from_config(_config(), "lenient")
        strict = Guard.from_config(_config(default="strict"), "strict")
        assert lenient.scanner is strict.scanner
        text = f"token {GITHUB_TOKEN} (rt-two-configs)"
        _out(lenient, _response("warm " + text))  # any scan of it, allowed or not
        lenient.is_clean(text, "output")
        with pytest.raises(GuardrailViolation):
            _out(strict, _response(text))

    def test_input_clean_text_is_output_clean(self) -> None:
        """Held: a text scanned clean as input has no detections at all, so no output rule can fire on it."""
        guard = Guard.from_config(_config(), "strict")
        text = "The launch is on Tuesday at the usual place (rt-input-first)."
        guard.protect_input_sync([{"role": "user", "content": text}], guard.new_vault(), agent="rt")
        assert guard.scanner.cached(text) == ()
        _same_as_slow_path(guard, _response(text), guard.new_vault())
        response = _response(text)
        hits = guard.scanner.stats.cache_hits
        assert _out(guard, response) is response  # the fast path was taken
        assert guard.scanner.stats.cache_hits == hits + 1

    def test_input_scanned_text_with_an_email_is_redacted_on_output(self) -> None:
        """Held: the input side's scan of an address is cached with its detection, not as clean."""
        guard = Guard.from_config(_config(), "strict")
        text = f"Write to {EMAIL} (rt-input-email)"
        guard.protect_input_sync([{"role": "user", "content": text}], guard.new_vault(), agent="rt")
        answer = _out(guard, _response(text)).choices[0].message.content
        assert EMAIL not in answer

    def test_placeholders_are_restored_in_cached_clean_content_and_arguments(self) -> None:
        """Held: a non-empty vault with restore on never takes the fast path (content and JSON arguments)."""
        guard = Guard.from_config(_config(), "strict")
        vault = guard.new_vault()
        placeholder = vault.placeholder_for("EMAIL_ADDRESS", EMAIL)
        content = f"Sent to {placeholder} (rt-restore)"
        arguments = json.dumps({"to": placeholder, "tag": "rt-restore"})
        guard.is_clean(content, "output")
        guard.is_clean(arguments, "output")
        assert guard.scanner.cached(content) == () and guard.scanner.cached(arguments) == ()
        answer = _out(guard, _response(content, arguments=arguments), vault)
        message = answer.choices[0].message
        assert EMAIL in message.content
        assert json.loads(message.tool_calls[0].function.arguments)["to"] == EMAIL

    def test_restore_off_with_placeholders_matches_slow_path(self) -> None:
        """Held: restore off, vault non-empty: the fast path and the slow path both leave placeholders."""
        guard = Guard.from_config(_config(), "norestore")
        vault = guard.new_vault()
        placeholder = vault.placeholder_for("EMAIL_ADDRESS", EMAIL)
        content = f"Sent to {placeholder} (rt-norestore)"
        guard.is_clean(content, "output")
        _same_as_slow_path(guard, _response(content), vault)
        assert _out(guard, _response(content), vault).choices[0].message.content == content

    def test_multiple_choices_one_cached_clean_one_secret(self) -> None:
        """Held: every choice's strings are looked up; one uncached string sends the answer the slow way."""
        guard = Guard.from_config(_config(), "strict")
        clean = "All good here (rt-choices)."
        guard.is_clean(clean, "output")
        response = _response(clean, choices=2)
        response.choices[1].message.content = f"and {GITHUB_TOKEN} (rt-choices)"
        with pytest.raises(GuardrailViolation):
            _out(guard, response)

    def test_secret_in_a_tuple_of_provider_fields_blocks(self) -> None:
        """Held: a tuple member (unwritable) with a secret blocks even when the content is cached clean."""
        guard = Guard.from_config(_config(), "strict")
        clean = "Fine (rt-tuple)."
        guard.is_clean(clean, "output")
        response = _response(clean, provider_fields={"extra": ("note", f"{GITHUB_TOKEN} rt-tuple")})
        with pytest.raises(GuardrailViolation):
            _out(guard, response)

    def test_logprobs_are_treated_alike_on_both_paths(self) -> None:
        """Held (for the shortcut): the fast path and the slow path check the same strings, logprob tokens included."""
        guard = Guard.from_config(_config(), "strict")
        clean = "Fine (rt-logprobs)."
        guard.is_clean(clean, "output")
        response = _response(clean)
        response.choices[0].logprobs = {"content": [{"token": GITHUB_TOKEN, "logprob": -0.1}]}
        _same_as_slow_path(guard, response, guard.new_vault())

    def test_fail_open_failure_is_not_cached_as_clean(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Held: an analyzer failure under fail_open returns no detections but leaves nothing in the cache."""
        guard = Guard.from_config(_config(on_analyzer_error="fail_open"), "strict")
        text = f"key {GITHUB_TOKEN} (rt-fail-open)"

        def broken(_text: str) -> Any:
            raise RuntimeError("analyzer down")

        with monkeypatch.context() as patch:
            patch.setattr(guard.scanner, "_analyze", broken)
            assert guard.is_clean(text, "output")
        assert guard.scanner.cached(text) is None
        with pytest.raises(GuardrailViolation):
            _out(guard, _response(text))

    def test_cache_disabled_never_takes_the_fast_path(self) -> None:
        """Held: ``cache_size: 0`` caches nothing, so a seen secret is scanned (and blocked) every time."""
        guard = Guard.from_config(_config(cache_size=0), "strict")
        text = f"key {GITHUB_TOKEN} (rt-nocache)"
        for _ in range(2):
            with pytest.raises(GuardrailViolation):
                _out(guard, _response(text))
        assert guard.scanner.cached(text) is None

    def test_json_arguments_scan_the_same_text_as_the_cache_key(self) -> None:
        """Held: a JSON tool-argument string is scanned raw (escaping is for restore only): same key, same verdict."""
        guard = Guard.from_config(_config(), "strict")
        arguments = json.dumps({"to": EMAIL, "note": "rt-json"})
        guard.is_clean(arguments, "input")
        assert guard.scanner.cached(arguments) not in (None, ())
        answer = _out(guard, _response(None, arguments=arguments))
        assert EMAIL not in answer.choices[0].message.tool_calls[0].function.arguments


REDACTING_OUTPUT = """
agents:
  gpt: {model: smart, max_tokens: 50}
guardrails:
  default: strict
  profiles:
    strict:
      output: {SECRET: block, EMAIL_ADDRESS: redact}
"""


class TestAgentOutputFastPath:
    async def test_repeated_echo_still_restores_the_address(self, make_loom: Any, wire_server: WireServer) -> None:
        """Held: the second identical answer is cached clean (placeholder text) but the vault forces a restore."""
        wire_server.route(Reply.echo(prefix="Sure: "))
        agent = make_loom(REDACTING_OUTPUT).agent("gpt")
        first = await agent.chat(f"Write to {EMAIL} about rt-agent")
        second = await agent.chat(f"Write to {EMAIL} about rt-agent")
        assert EMAIL in first and EMAIL in second

    async def test_secret_answer_twice_is_blocked_twice(self, make_loom: Any, wire_server: WireServer) -> None:
        """Held: an answer holding a secret is cached with its detection, never as clean."""
        wire_server.route(Reply.text(f"Here: {GITHUB_TOKEN} (rt-agent-secret)"))
        agent = make_loom(REDACTING_OUTPUT).agent("gpt")
        for _ in range(2):
            with pytest.raises(GuardrailViolation):
                await agent.chat("Give me the token")


# --- 2. has_registrable_domain vs tldextract -----------------------------------------------------------------------


def _old_check() -> Any:
    import tldextract

    extract = tldextract.TLDExtract(cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True)
    return lambda host: extract(host).fqdn != ""


ODD_HOSTS = [
    "a" * 100_000 + ".com", ".".join(["a"] * 10_000) + ".com", "a\x00b.com", "a.c\x00om", "\ud800.com", "a.\ud800",
    "xn--\ud800.com", "xn--abc\ud800", "\u200fa.com", "a.\u200fcom", "\u202ecom.a", "xn--" + "a" * 5000 + ".com",
    "a.xn--" + "9" * 3000, "xn--ls8h.la", "a.xn--p1ai", "a.XN--P1AI", "xn--zz-.com", "xn---.com", "xn--\x00.com",
    "xn--\u00fc.com", "a.xn--\u00fc", "a.xn--55qx5d-", "[::1]", "[ ]", "[::1%eth0]", "[fe80::1%\ud800]", "[::1%\x00]",
    "a@b@c.com", "http://x.com", "a.xn--11b4c3d\x00", "xn--" * 1000, "1.2.3.4", "a.1.2.3.4", "a.xn--", "xn--1ca",
    "a.xn--zn7c", "a.xn--" + "z" * 62, "\u0130.com", "a.\u0130", "b\u00fccher.de", "m\u00fcnchen.xn--6frz82g",
    "a.\u0440\u0444", "a\u3002com", "a\uff0ecom", "a\uff61com", "\uff41.\uff43\uff4f\uff4d", "a.*.ck", "a.!www.ck",
    "www.ck", "a.www.ck", "city.kawasaki.jp", "a.city.kawasaki.jp", "x.kawasaki.jp", "blogspot.com", "a.blogspot.com",
    "com", ".com", "a..com", "a.com.", "a.com..", "", ".", "..", "\U0001f600.com", "a.\U0001f600",
]


class TestRegistrableDomain:
    @pytest.mark.parametrize("host", ODD_HOSTS, ids=range(len(ODD_HOSTS)))
    def test_odd_host_same_answer_no_exception(self, host: str) -> None:
        """Held: huge labels, 10k labels, NUL, surrogates, RTL marks, bad xn--, IPv6 zones: same verdict, no raise."""
        from loomllm._guardrails.suffixes import has_registrable_domain

        old = _old_check()
        assert has_registrable_domain(host) == old(host)
        assert has_registrable_domain(host.lower()) == old(host.lower())

    def test_seeded_fuzz_against_tldextract(self) -> None:
        """Held: 20,000 hosts built from suffix-list labels, unicode dots, punycode and junk agree with tldextract."""
        from loomllm._guardrails.suffixes import _load_trie, has_registrable_domain

        old = _old_check()
        rules = sorted(_load_trie().rules)
        pool = sorted({label for rule in rules for label in rule.split(".")})
        junk = ["", "*", "!", "xn--", "XN--P1AI", "\u0130", "\u00df", "\u03a3", "\u200f", "\x00", "\ud800", "\uff43om",
                "com\u3002", "[::1]", "255", "xn--80ak6aa92e", "\uff58n--p1ai", "_", "-", "a-", ":80", "/x", "@y"]
        rng = random.Random(20261202)
        mismatches = []
        for _ in range(20_000):
            labels = [rng.choice(pool if rng.random() < 0.5 else junk) for _ in range(rng.randint(0, 3))]
            labels += rng.choice(rules).split(".") if rng.random() < 0.8 else [rng.choice(junk)]
            host = ".".join(labels)
            host = host.upper() if rng.random() < 0.1 else host
            if has_registrable_domain(host) != old(host):
                mismatches.append(host)
        assert mismatches == []

    @pytest.mark.parametrize("address", [
        "jane@acme.com", "jane@ACME.COM", "jane@b\u00fccher.de", "jane@xn--bcher-kva.de",
        "jane@m\u00fcnchen.\u4e2d\u56fd",
        "jane@a.xn--p1ai", "jane@\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444", "jane@x.city.kawasaki.jp",
        "jane@city.kawasaki.jp", "jane@foo.kawasaki.jp", "jane@www.ck", "jane@a.www.ck", "jane@a.blogspot.com",
        "jane@\u0130stanbul.com.tr", "jane@a_b.co.uk", "jane@co.uk", "jane@a.co.uk", "jane@localhost.localdomain",
        "jane@a.example", "jane@1.2.3.4", "j@x.xn--" + "a" * 80,
    ])
    def test_recognizer_validates_like_tldextract(self, address: str) -> None:
        """Held: the e-mail recognizer's domain check (lower-cased, remembered) gives the old verdict."""
        from loomllm._guardrails.analyzer import OfflineEmailRecognizer

        old = _old_check()
        assert OfflineEmailRecognizer().validate_result(address) == old(address.rpartition("@")[2].lower())

    @pytest.mark.parametrize("prose", [
        "Ping jane@b\u00fccher.de today", "mail JANE@ACME.CO.UK please", "to: j@x.city.kawasaki.jp, thanks",
        "write \u05e9\u05dc\u05d5\u05dd jane@acme.com \u200f now", "x" * 3000 + " jane@" + "a." * 2000 + "com",
    ])
    def test_prose_scan_never_fails(self, prose: str) -> None:
        """Held: scanning prose with odd addresses raises nothing under fail_closed (no analyzer failure)."""
        guard = Guard.from_config(GuardrailsConfig(), "standard")
        guard.decide(prose, "input", message_index=0, agent="rt", cache=False)
