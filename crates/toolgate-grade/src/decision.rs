//! The decision behind an answer (docs/case-format.md#decisions): `call` a tool, `answer`
//! in text, `ask` a clarifying question, or `refuse`. The rule is deterministic and cheap,
//! so a re-grade gives the same classes:
//!
//! 1. any structured call, malformed call or call written as text → `call`;
//! 2. else a question in the answer — a sentence ending in `?`, Arabic `؟`, full-width `？`,
//!    Greek `;`, Armenian `՞` or Ethiopic `፧`, outside code and URLs — that is not a
//!    courtesy offer ("How can I help you today?", "Anything else?") → `ask`;
//! 3. else a refusal phrase ("I can't", "I'm unable", "I don't have access", …) in the
//!    answer's first 200 characters → `refuse`;
//! 4. else, any other non-empty answer → `answer`. An empty answer has no decision.
//!
//! Asking wins over refusing: "I can't book it without a time — when?" asks.

use toolgate_core::model::{CallSet, DecisionExpect, Expectation};
use toolgate_core::text::fold;
use toolgate_core::Decision;

const QUESTION_MARKS: [char; 6] = ['?', '؟', '？', '\u{37E}', '՞', '፧'];

/// Phrases that decline, folded (lower case, straight apostrophes).
const REFUSALS: [&str; 22] = [
    "i can't",
    "i cannot",
    "i can not",
    "i'm unable",
    "i am unable",
    "i'm not able",
    "i am not able",
    "i won't be able",
    "i don't have access",
    "i do not have access",
    "i don't have a tool",
    "i do not have a tool",
    "i don't have any tool",
    "i have no way to",
    "i have no access",
    "unable to help",
    "can't help with",
    "cannot help with",
    "not able to help",
    "i'm sorry, but i",
    "i am sorry, but i",
    "i'm afraid i",
];

/// Questions that offer more help rather than ask for what is missing, folded.
const COURTESY: [&str; 9] = [
    "how can i help",
    "how may i help",
    "how can i assist",
    "what can i do for you",
    "anything else",
    "is there anything",
    "can i help you with",
    "what else can i",
    "would you like to know more",
];

/// How far into the answer a refusal phrase counts: a refusal comes first.
const REFUSAL_WINDOW: usize = 200;

/// The decision of a whole message whose structured calls are `calls` (normalised): its
/// answer without the think block, a call written in that answer counting as a call. What
/// `toolgate agree` classes each side's turns with.
pub fn of_message(
    m: &toolgate_core::AssistantMessage,
    calls: &[crate::normalize::NormCall],
) -> Option<Decision> {
    let (answer, _) = crate::jsonscan::split_think(m.content.as_deref().unwrap_or(""));
    let text_call = calls.is_empty() && !crate::incontent::find_calls(&answer).is_empty();
    classify(!calls.is_empty() || text_call, &answer)
}

/// The decision of one answer: `has_call` covers structured, malformed and text calls.
pub fn classify(has_call: bool, answer: &str) -> Option<Decision> {
    if has_call {
        return Some(Decision::Call);
    }
    let prose = prose(answer);
    if prose.trim().is_empty() {
        return None;
    }
    Some(if is_question(&prose) {
        Decision::Ask
    } else if is_refusal(&prose) {
        Decision::Refuse
    } else {
        Decision::Answer
    })
}

/// What the expectation asks the model to decide; `None` when its alternatives allow both a
/// call and an answer, or it judges no decision (extraction to content, record-only).
pub fn expected(exp: &Expectation) -> Option<Decision> {
    if exp.record_only {
        return None;
    }
    match &exp.decision {
        Some(DecisionExpect::Ask { .. }) => return Some(Decision::Ask),
        Some(DecisionExpect::Refuse) => return Some(Decision::Refuse),
        None => {}
    }
    let alts = &exp.tools.as_ref()?.alternatives;
    let calls = alts
        .iter()
        .filter(|a| matches!(a, CallSet::Calls { .. }))
        .count();
    match calls {
        0 if !alts.is_empty() => Some(Decision::Answer),
        n if n == alts.len() => Some(Decision::Call),
        _ => None,
    }
}

fn is_question(prose: &str) -> bool {
    let mut start = 0;
    for (i, c) in prose.char_indices() {
        let end = i + c.len_utf8();
        if QUESTION_MARKS.contains(&c) {
            let sentence = fold(&prose[start..end].replace(['\u{2019}', '\u{2018}'], "'"));
            if !COURTESY.iter().any(|p| sentence.contains(p)) {
                return true;
            }
        }
        if QUESTION_MARKS.contains(&c) || matches!(c, '.' | '!' | '\n' | '।' | '。') {
            start = end;
        }
    }
    false
}

fn is_refusal(prose: &str) -> bool {
    let head: String = prose.chars().take(REFUSAL_WINDOW).collect();
    let folded = fold(&head.replace(['\u{2019}', '\u{2018}'], "'"));
    REFUSALS.iter().any(|p| folded.contains(p))
}

/// The answer without fenced code, inline code and URLs, where a `?` is no question.
fn prose(answer: &str) -> String {
    let mut out = String::with_capacity(answer.len());
    let mut in_fence = false;
    for line in answer.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        for (i, part) in line.split('`').enumerate() {
            if i % 2 == 0 {
                for word in part.split_inclusive(char::is_whitespace) {
                    let w = word.trim_start_matches(['(', '<', '[']);
                    if !(w.starts_with("http://") || w.starts_with("https://")) {
                        out.push_str(word);
                    }
                }
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_follow_the_documented_rule() {
        for (has_call, text, want) in [
            (true, "Sure?", Some(Decision::Call)),
            (false, "", None),
            (false, "   ", None),
            (false, "Which city do you mean?", Some(Decision::Ask)),
            (false, "ನೀವು ಯಾವ ದಿನ ಹೇಳುತ್ತಿದ್ದೀರಿ?", Some(Decision::Ask)),
            (false, "أي مدينة تقصد؟", Some(Decision::Ask)),
            (false, "どの日ですか？", Some(Decision::Ask)),
            (
                false,
                "Sorry, I can't check live scores from here.",
                Some(Decision::Refuse),
            ),
            (
                false,
                "I\u{2019}m unable to look that up.",
                Some(Decision::Refuse),
            ),
            (
                false,
                "I can't book it without a time. When should it be?",
                Some(Decision::Ask),
            ),
            (
                false,
                "Mullayanagiri is 1,930 m tall.",
                Some(Decision::Answer),
            ),
            (
                false,
                "Good morning! How can I help you today?",
                Some(Decision::Answer),
            ),
            (
                false,
                "It is 360. Anything else? Which city did you mean, by the way?",
                Some(Decision::Ask),
            ),
            (
                false,
                "See https://example.com/?q=rain for details.",
                Some(Decision::Answer),
            ),
            (
                false,
                "Use `a ? b : c` here.\n```\nx = y ? 1 : 2\n```",
                Some(Decision::Answer),
            ),
        ] {
            assert_eq!(classify(has_call, text), want, "{text:?}");
        }
    }

    #[test]
    fn a_late_refusal_phrase_is_not_a_refusal() {
        let long = format!("{} I can't promise it is current.", "Word ".repeat(60));
        assert_eq!(classify(false, &long), Some(Decision::Answer));
    }
}
