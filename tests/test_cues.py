"""Phrase cues on plain text: normalization, every default cue, false matches, user
overrides, validation messages and redaction."""

from __future__ import annotations

from typing import Any

import pytest

from alerts.cues import DEFAULT_CUES_PATH, Cue, CueMatcher, load_cues, normalize, redact


@pytest.fixture(scope="module")
def matcher() -> CueMatcher:
    return CueMatcher(load_cues())


def names(matcher: CueMatcher, speaker: str, text: str) -> list[str]:
    return sorted(h.cue.name for h in matcher.match(speaker, text))


# -- normalization ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("That’s NOT my problem!", "that is not my problem"),
        ("I'm sorry", "i am sorry"),
        ("I am  sorry...", "i am sorry"),
        ("can't / cannot / can not", "can not can not can not"),
        ("won't, don't, isn't", "will not do not is not"),
        ("you're, we've, they'll, I'd", "you are we have they will i would"),
        ("Mm-hmm, ok-ay", "mm hmm ok ay"),
        ("your boss's office", "your boss office"),
        ("there's nothing", "there is nothing"),
        ("God bless 'em", "god bless them"),
        ("gonna wanna", "going to want to"),
        (
            "f***ing s**t f*ck a** f**king a**hole b****",
            "fucking shit fuck ass fucking asshole bitch",
        ),
        ("  \n\t ", ""),
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


# -- each default cue -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("speaker", "text", "expected"),
    [
        ("agent", "Ma'am, please calm down.", ["calm_down"]),
        ("agent", "Just RELAX, okay?", ["calm_down"]),
        ("agent", "Settle down and listen", ["calm_down"]),
        ("agent", "It's not my fault the parcel is late.", ["defensive"]),
        ("agent", "I had nothing to do with that order.", ["defensive"]),
        ("agent", "That is not my problem.", ["defensive"]),
        ("agent", "Billing? Not my department.", ["defensive"]),
        ("agent", "Hey, I just work here.", ["defensive"]),
        ("agent", "You have to restart the router.", []),
        ("agent", "When you have to reset your radio clock, hold the button.", []),
        ("agent", "You need to understand, the fee stays.", ["pushing"]),
        ("agent", "You have to wait like everybody else.", ["pushing"]),
        ("agent", "You should have received an email from us.", []),
        ("agent", "You should've called earlier.", ["pushing"]),
        ("agent", "You should have called earlier.", ["pushing"]),
        ("agent", "As I already said, the fee stays.", ["pushing"]),
        ("agent", "Like I said before.", ["pushing"]),
        ("agent", "That's our policy, sir.", ["pushing"]),
        ("agent", "There is nothing I can do.", ["pushing"]),
        ("customer", "Put your manager on the phone.", ["supervisor_request"]),
        ("customer", "Are there no supervisors there?", ["supervisor_request"]),
        ("customer", "I want someone in charge.", ["supervisor_request"]),
        ("customer", "Let me talk to your boss.", ["supervisor_request"]),
        ("customer", "This is bullshit.", ["profanity"]),
        ("customer", "What the fuck is going on?", ["profanity"]),
        ("customer", "Your damned company", ["profanity"]),
        ("customer", "I'm pissed off.", ["profanity"]),
        ("customer", "What a crappy service, you bastard", ["profanity"]),
        ("agent", "I'm so sorry for the wait.", ["apology"]),
        ("agent", "I apologize.", ["apology"]),
        ("agent", "I understand how you feel.", ["empathy"]),
        ("agent", "I can see why that upset you.", ["empathy"]),
        ("agent", "That sounds frustrating.", ["empathy"]),
        ("agent", "Others have felt the same; they found that a reset helps.", ["empathy"]),
    ],
)
def test_default_cues(matcher: CueMatcher, speaker: str, text: str, expected: list[str]) -> None:
    assert names(matcher, speaker, text) == expected


def test_every_default_cue_is_covered_above() -> None:
    # keeps this file honest when a cue is added to cues.toml
    assert {c.name for c in load_cues()} == {
        "calm_down",
        "defensive",
        "pushing",
        "supervisor_request",
        "profanity",
        "apology",
        "empathy",
    }


def test_good_signs_are_marked(matcher: CueMatcher) -> None:
    good = {c.name for c in load_cues() if c.good}
    assert good == {"apology", "empathy"}
    assert {c.severity for c in load_cues() if c.good} == {"info"}


@pytest.mark.parametrize(
    ("speaker", "text"),
    [
        ("agent", "Your order shipped on Monday and should arrive by Friday."),
        ("agent", "He calmed down after the refund."),  # past tense is not the instruction
        ("agent", "I was relaxing at home."),
        ("agent", "My manager approved the refund."),  # supervisor cue is the customer's
        ("customer", "Calm down? I am calm."),  # calm_down is the agent's cue
        ("customer", "I'm sorry, I missed that."),  # apology is the agent's cue
        ("customer", "I passed the class, hello assessor, Scunthorpe"),  # no substrings
        ("customer", "The shipment is stuck in Dickson."),
        ("agent", "The timer is set to calm downstairs"),
        ("agent", "You needed two forms."),
    ],
)
def test_no_false_matches(matcher: CueMatcher, speaker: str, text: str) -> None:
    assert names(matcher, speaker, text) == []


def test_relax_matches_as_a_word_without_grammar(matcher: CueMatcher) -> None:
    # Documented limitation: "relax" is matched as a word, not as an imperative.
    assert names(matcher, "agent", "I'll relax the rule for you.") == ["calm_down"]


def test_one_hit_per_cue_with_span_into_original_text(matcher: CueMatcher) -> None:
    text = "Sir, you need to CALM DOWN. Calm down! Relax, you have to."
    hits = matcher.match("agent", text)
    assert [h.cue.name for h in hits] == ["pushing", "calm_down"]
    pushing, calm = hits
    assert text[slice(*pushing.span)] == "you need to"
    assert (calm.pattern, text[slice(*calm.span)]) == ("calm down", "CALM DOWN")


def test_span_covers_contractions_and_censored_words(matcher: CueMatcher) -> None:
    text = "well THAT’S not my problem"
    (hit,) = matcher.match("agent", text)
    assert text[slice(*hit.span)] == "THAT’S not my problem"
    text = "this is f***ing ridiculous"
    (hit,) = matcher.match("customer", text)
    assert (hit.pattern, text[slice(*hit.span)]) == ("fuck*", "f***ing")


def test_unknown_speaker_is_an_error(matcher: CueMatcher) -> None:
    with pytest.raises(ValueError, match="speaker must be one of agent|customer"):
        matcher.match("caller", "hello")


# -- loading, overrides, validation -----------------------------------------------------


def test_defaults_file_is_next_to_the_module() -> None:
    assert DEFAULT_CUES_PATH.name == "cues.toml" and DEFAULT_CUES_PATH.is_file()
    cues = load_cues()
    assert all(isinstance(c, Cue) and c.message and c.tip and c.patterns for c in cues)
    assert all("\n" not in c.message for c in cues)


def test_user_cue_is_added() -> None:
    user = {
        "cue": [
            {
                "name": "cancel",
                "speaker": "customer",
                "patterns": ["cancel my account"],
                "severity": "critical",
                "message": "Churn risk.",
            }
        ]
    }
    cues = load_cues(user)
    assert len(cues) == len(load_cues()) + 1
    m = CueMatcher(cues)
    assert names(m, "customer", "I want to CANCEL my account!") == ["cancel"]
    assert m.match("customer", "cancel my account")[0].cue.severity == "critical"


def test_user_cue_replaces_fields_of_a_default() -> None:
    cues = load_cues({"cue": [{"name": "calm_down", "speaker": "agent", "patterns": ["chill"]}]})
    (calm,) = [c for c in cues if c.name == "calm_down"]
    assert calm.patterns == ("chill",)
    assert calm.severity == "warning" and calm.message  # kept from the default
    m = CueMatcher(cues)
    assert names(m, "agent", "just chill") == ["calm_down"]
    assert names(m, "agent", "please calm down") == []


def test_same_name_other_speaker_is_a_new_cue() -> None:
    user = {
        "cue": [
            {
                "name": "calm_down",
                "speaker": "customer",
                "patterns": ["calm down"],
                "severity": "info",
                "message": "Customer asked the agent to calm down.",
            }
        ]
    }
    m = CueMatcher(load_cues(user))
    assert names(m, "customer", "calm down!") == ["calm_down"]
    assert names(m, "agent", "calm down!") == ["calm_down"]


def test_user_can_disable_a_cue_or_replace_all() -> None:
    cues = load_cues({"cue": [{"name": "profanity", "speaker": "customer", "enabled": False}]})
    assert "profanity" not in {c.name for c in cues}
    only = {
        "replace_defaults": True,
        "cue": [{"name": "x", "speaker": "agent", "patterns": ["x"], "severity": "info",
                 "message": "m"}],
    }  # fmt: skip
    assert [c.name for c in load_cues(only)] == ["x"]
    assert load_cues({"replace_defaults": True}) == []


@pytest.mark.parametrize(
    ("cue", "message"),
    [
        (
            {"name": "x", "speaker": "agent", "patterns": ["a"], "severity": "loud",
             "message": "m"},
            "cue 'x': severity must be one of info|warning|critical, got 'loud'",
        ),
        (
            {"name": "x", "speaker": "boss", "patterns": ["a"], "severity": "info",
             "message": "m"},
            "cue 'x': speaker must be one of agent|customer, got 'boss'",
        ),
        (
            {"name": "x", "speaker": "agent", "patterns": [], "severity": "info",
             "message": "m"},
            "cue 'x': patterns must be a non-empty list of strings, got []",
        ),
        (
            {"name": "x", "speaker": "agent", "patterns": "calm", "severity": "info",
             "message": "m"},
            "cue 'x': patterns must be a non-empty list of strings, got 'calm'",
        ),
        (
            {"name": "x", "speaker": "agent", "patterns": ["?!"], "severity": "info",
             "message": "m"},
            "cue 'x': pattern '?!' has no words",
        ),
        (
            {"name": "x", "speaker": "agent", "patterns": ["a"], "severity": "info",
             "message": "two\nlines"},
            "cue 'x': message must be one line",
        ),
        (
            {"name": "x", "speaker": "agent", "patterns": ["a"], "severity": "info"},
            "cue 'x': message must be a string, got None",
        ),
        (
            {"name": "x", "speaker": "agent", "patterns": ["a"], "severity": "info",
             "message": "m", "good": "yes"},
            "cue 'x': good must be true or false, got 'yes'",
        ),
        (
            {"name": "x", "speaker": "agent", "patterns": ["a"], "severity": "info",
             "message": "m", "colour": "red"},
            "cue 'x': unknown key 'colour'",
        ),
        (
            {"name": "bad name", "speaker": "agent"},
            "cues #1: name must be letters, digits, _ . or -, got 'bad name'",
        ),
    ],
)  # fmt: skip
def test_validation_messages(cue: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as err:
        load_cues({"cue": [cue]})
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_table_level_validation() -> None:
    with pytest.raises(ValueError, match="cues: unknown key 'cues'"):
        load_cues({"cues": []})
    with pytest.raises(ValueError, match=r"cues: 'cue' must be a list of tables"):
        load_cues({"cue": {"name": "x"}})
    with pytest.raises(ValueError, match="cues: replace_defaults must be true or false"):
        load_cues({"replace_defaults": "yes"})
    twice = {"name": "calm_down", "speaker": "agent", "patterns": ["a"]}
    with pytest.raises(ValueError, match="cue 'calm_down': defined twice for the agent"):
        load_cues({"cue": [twice, twice]})


# -- redaction --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("card 4111 1111 1111 1111 thanks", "card #### #### #### #### thanks"),
        ("account 12345678", "account ########"),
        ("call me at (555) 123-4567", "call me at (###) ###-####"),
        ("it's 4-1-1-1-5-5-5", "it's #-#-#-#-#-#-#"),
        ("pin four five six seven", "pin # # # #"),
        ("Four, one, one, one.", "#, #, #, #."),
        ("number 41, 11, 25, 25", "number ##, ##, ##, ##"),
        ("order A1234567", "order A#######"),
        ("mixed 4 one 1 one", "mixed # # # #"),
    ],
)
def test_redact_masks_number_runs(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "I have one or two questions",
        "call back at 10:30",
        "it costs 250 dollars",
        "room 101 and 2 boxes",
        "one two three",
        "someone, everyone, phone, tone, often",
        "",
    ],
)
def test_redact_leaves_short_numbers_and_words(text: str) -> None:
    assert redact(text) == text


def test_matching_uses_unredacted_text(matcher: CueMatcher) -> None:
    text = "Fuck, my card is 4111 1111 1111 1111"
    assert names(matcher, "customer", text) == ["profanity"]
    assert "4111" not in redact(text) and redact(text).startswith("Fuck, my card is ####")


# -- guarded patterns: context decides ----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "calm", "tense"),
    [
        ("You have to restart the router.", [], ["pushing"]),
        ("If you need to reschedule, just call us.", [], ["pushing"]),
        ("You need to calm down.", ["calm_down", "pushing"], ["calm_down", "pushing"]),
        ("Like I said, you have to bring it in.", ["pushing"], ["pushing"]),
        ("Your order shipped on Monday.", [], []),
    ],
)
def test_guarded_patterns_need_a_tense_moment_or_a_demand(
    matcher: CueMatcher, text: str, calm: list[str], tense: list[str]
) -> None:
    assert sorted(h.cue.name for h in matcher.match("agent", text)) == calm
    assert sorted(h.cue.name for h in matcher.match("agent", text, tense=True)) == tense


def test_guarded_patterns_are_validated() -> None:
    with pytest.raises(ValueError, match="guarded must be a list of strings"):
        load_cues({"cue": [{"name": "pushing", "speaker": "agent", "guarded": "you must"}]})
    cues = load_cues(
        {"cue": [{"name": "pushing", "speaker": "agent", "guarded": [], "pushy_next": []}]}
    )
    pushing = next(c for c in cues if c.name == "pushing")
    assert pushing.guarded == () and "like I said" in pushing.patterns
