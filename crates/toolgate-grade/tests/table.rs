//! A table of recorded responses per verdict kind (at least three per kind), in the shapes
//! vLLM, llama.cpp and Ollama really send, each with the verdict and primary kind it must get.
//! The whole table's GradeRecords are also snapshotted (insta) so any change of wording or
//! detail is reviewed.

mod common;

use common::*;
use serde_json::json;
use toolgate_core::spec::{ExtraCalls, Order};
use toolgate_core::*;
use toolgate_grade::{grade, grade_all};

pub fn fixtures() -> Vec<Suite> {
    use CaseKind::*;
    let ci = |s: &str| Matcher::EqualsCi(s.into());
    let voice = vec![
        case(
            "entity-arun",
            ToolCall,
            expect_calls(vec![call("get_entity_details", vec![("name", ci("Arun"))])]),
        ),
        case(
            "memory-priya-launch",
            ToolCall,
            expect_calls(vec![call(
                "search_memory",
                vec![(
                    "query",
                    Matcher::ContainsAny(vec!["priya".into(), "launch".into()]),
                )],
            )]),
        ),
        case("greeting", ToolCall, expect_alts(vec![CallSet::NoCall])),
        case(
            "weather-two-cities",
            ToolCall,
            expect_calls(vec![
                call(
                    "get_weather",
                    vec![("city", Matcher::Equals(json!("Tokyo")))],
                ),
                call(
                    "get_weather",
                    vec![("city", Matcher::Equals(json!("Paris")))],
                ),
            ]),
        ),
        case(
            "recall-then-search",
            ToolCall,
            expect_alts(vec![CallSet::Calls {
                calls: vec![call("search_memory", vec![]), call("web_search", vec![])],
                order: Order::Exact,
                extra_calls: ExtraCalls::Forbid,
            }]),
        ),
        case(
            "arun-or-answer",
            ToolCall,
            expect_alts(vec![
                calls(vec![call("get_entity_details", vec![("name", ci("Arun"))])]),
                CallSet::NoCall,
            ]),
        ),
        case(
            "timer-five",
            ToolCall,
            expect_calls(vec![call(
                "set_timer",
                vec![
                    ("minutes", Matcher::Range(1.0, 10.0)),
                    ("label", Matcher::Absent),
                ],
            )]),
        ),
        case("timer-strict", ToolCall, {
            let mut c = call("set_timer", vec![("minutes", Matcher::Equals(json!(5)))]);
            c.strict_args = true;
            expect_calls(vec![c])
        }),
        case(
            "tokyo-twice",
            ToolCall,
            expect_calls(vec![
                call(
                    "get_weather",
                    vec![("city", Matcher::Equals(json!("Tokyo")))],
                ),
                call(
                    "get_weather",
                    vec![("city", Matcher::Equals(json!("Tokyo")))],
                ),
            ]),
        ),
        case(
            "time-noarg",
            ToolCall,
            expect_calls(vec![call("get_time", vec![])]),
        ),
        case(
            "weather-extra-ok",
            ToolCall,
            expect_alts(vec![CallSet::Calls {
                calls: vec![call(
                    "get_weather",
                    vec![
                        ("city", regex("(?i)^(tokyo|tōkyō)$")),
                        ("days", Matcher::Range(1.0, 3.0)),
                    ],
                )],
                order: Order::Any,
                extra_calls: ExtraCalls::Allow,
            }]),
        ),
        case(
            "book-it-ask",
            ToolCall,
            Expectation {
                decision: Some(DecisionExpect::Ask {
                    mentions: vec!["where".into(), "which place".into()],
                }),
                ..Default::default()
            },
        ),
        case(
            "order-pizza-refuse",
            ToolCall,
            Expectation {
                decision: Some(DecisionExpect::Refuse),
                ..Default::default()
            },
        ),
    ];
    let entities = vec![
        case(
            "transcript-1",
            Extraction,
            extraction(OutputSource::Content),
        ),
        case(
            "transcript-tool",
            Extraction,
            extraction(OutputSource::Tool("save_entities".into())),
        ),
    ];
    let chat = vec![
        {
            let mut c = case(
                "capital",
                Chat,
                gates(Gates {
                    non_empty: true,
                    no_markdown: true,
                    no_thinking_leak: true,
                    contains_any: vec!["Bengaluru".into(), "Bangalore".into()],
                    not_contains: vec!["as an AI".into()],
                    max_words: Some(30),
                    ..Default::default()
                }),
            );
            c.category = Some("factual_question".into());
            c
        },
        case(
            "capital-facts",
            Chat,
            gates(Gates {
                contains: vec!["Karnataka".into(), "capital".into()],
                ..Default::default()
            }),
        ),
    ];
    let mut conv = case("trip", Conversation, Expectation::default());
    conv.input = CaseInput::Turns(vec![
        Turn {
            user: "Weather in Tokyo?".into(),
            expect: expect_calls(vec![call("get_weather", vec![("city", ci("tokyo"))])]),
        },
        Turn {
            user: "And should I pack an umbrella?".into(),
            expect: gates(Gates {
                contains_any: vec!["umbrella".into()],
                no_markdown: true,
                ..Default::default()
            }),
        },
    ]);
    vec![
        suite("voice-3tool", ToolCall, voice),
        suite("entities", Extraction, entities),
        suite("chat", Chat, chat),
        suite("conversation", Conversation, vec![conv]),
    ]
}

type Turns = Vec<(AssistantMessage, &'static str)>;

/// (label, suite, case, turns, verdict, primary kind)
type Row = (
    &'static str,
    &'static str,
    &'static str,
    Turns,
    Verdict,
    Option<FailureKind>,
);

pub fn rows() -> Vec<Row> {
    use FailureKind as K;
    use Verdict::{Fail, Pass};
    let v = "voice-3tool";
    let ent = "entities";
    let good_entities = r#"{"entities": [{"name": "Priya", "type": "person"}, {"name": "Bangalore", "type": "place"}]}"#;
    vec![
        // ---- pass
        ("vllm string args", v, "entity-arun", vec![(msg_calls(None, vec![tc("get_entity_details", "{\"name\": \"arun\"}")]), "tool_calls")], Pass, None),
        ("ollama object args + reasoning", v, "memory-priya-launch", vec![(with_reasoning(msg_calls(Some(""), vec![tc_obj("search_memory", json!({"query": "What did Priya say about the Launch"}))]), "reasoning", "The user asks about Priya."), "tool_calls")], Pass, None),
        ("llama.cpp plain greeting", v, "greeting", vec![(msg_text("Good morning! How can I help you today?"), "stop")], Pass, None),
        ("parallel any order", v, "weather-two-cities", vec![(msg_calls(None, vec![tc("get_weather", "{\"city\":\"Paris\"}"), tc("get_weather", "{\"city\":\"Tokyo\"}")]), "tool_calls")], Pass, None),
        ("any_of no-call alternative", v, "arun-or-answer", vec![(msg_text("Arun is your colleague from the design team."), "stop")], Pass, None),
        ("double-encoded args", v, "entity-arun", vec![(msg_calls(None, vec![tc("get_entity_details", "\"{\\\"name\\\":\\\"Arun\\\"}\"")]), "tool_calls")], Pass, None),
        ("empty-string args for no-arg tool", v, "time-noarg", vec![(msg_calls(None, vec![tc("get_time", "")]), "tool_calls")], Pass, None),
        ("extra calls allowed, regex + range", v, "weather-extra-ok", vec![(msg_calls(None, vec![tc("get_weather", "{\"city\": \"TOKYO\", \"days\": 2.0}"), tc("web_search", "{\"query\": \"tokyo\"}")]), "tool_calls")], Pass, None),
        ("fenced json extraction", ent, "transcript-1", vec![(msg_text(&format!("Here you go:\n```json\n{good_entities}\n```")), "stop")], Pass, None),
        ("extraction via tool", ent, "transcript-tool", vec![(msg_calls(None, vec![tc("save_entities", good_entities)]), "tool_calls")], Pass, None),
        ("plain chat answer", "chat", "capital", vec![(msg_text("The capital of Karnataka is Bengaluru."), "stop")], Pass, None),
        ("conversation both turns", "conversation", "trip", vec![
            (msg_calls(None, vec![tc("get_weather", "{\"city\": \"Tokyo\"}")]), "tool_calls"),
            (msg_text("Yes, take an umbrella: rain is likely."), "stop"),
        ], Pass, None),
        // ---- empty_output
        ("null content, nothing else", v, "entity-arun", vec![(msg_calls(None, vec![]), "stop")], Fail, Some(K::EmptyOutput)),
        ("empty string chat", "chat", "capital", vec![(msg_text(""), "stop")], Fail, Some(K::EmptyOutput)),
        ("whitespace extraction", ent, "transcript-1", vec![(msg_text("  \n "), "stop")], Fail, Some(K::EmptyOutput)),
        // ---- reasoning_only
        ("nemotron JSON parse failed", ent, "transcript-1", vec![(with_reasoning(msg_calls(None, vec![]), "reasoning_content", "We need to output JSON: {\"entities\": [{\"name\": \"Priya\", \"type\": \"person\"}"), "length")], Fail, Some(K::ReasoningOnly)),
        ("chat answer stuck in reasoning", "chat", "capital", vec![(with_reasoning(msg_text(""), "reasoning", "The capital is Bengaluru."), "stop")], Fail, Some(K::ReasoningOnly)),
        ("no call, only thought", v, "entity-arun", vec![(with_reasoning(msg_text(""), "reasoning", "I should look up Arun in the entity store."), "stop")], Fail, Some(K::ReasoningOnly)),
        ("think block only, no parser", "chat", "capital", vec![(msg_text("<think>The user wants the capital. It is Bengaluru.</think>\n"), "stop")], Fail, Some(K::ReasoningOnly)),
        // ---- truncated
        ("llama.cpp cut arguments", v, "memory-priya-launch", vec![(msg_calls(Some(""), vec![tc("search_memory", "{\n    \"query\": \"query.query_type.search_memory.query_params.query_params")]), "length")], Fail, Some(K::Truncated)),
        ("chat cut before the fact", "chat", "capital", vec![(msg_text("Karnataka is a state in southern India whose capital"), "length")], Fail, Some(K::Truncated)),
        ("extraction JSON cut", ent, "transcript-1", vec![(msg_text("{\"entities\": [{\"name\": \"Priya\", \"type\": \"per"), "length")], Fail, Some(K::Truncated)),
        // ---- call_in_content
        ("hermes in content (no parser)", v, "entity-arun", vec![(msg_text("<tool_call>\n{\"name\": \"get_entity_details\", \"arguments\": {\"name\": \"Arun\"}}\n</tool_call>"), "stop")], Fail, Some(K::CallInContent)),
        ("nemotron XML, wrong value", v, "entity-arun", vec![(msg_text("<tool_call>\n<function=get_entity_details>\n<parameter=name>\nArjun\n</parameter>\n</function>\n</tool_call>"), "stop")], Fail, Some(K::CallInContent)),
        ("mistral text call", v, "memory-priya-launch", vec![(msg_text("[TOOL_CALLS][{\"name\": \"search_memory\", \"arguments\": {\"query\": \"Priya launch\"}}]"), "stop")], Fail, Some(K::CallInContent)),
        ("pythonic text call", v, "weather-two-cities", vec![(msg_text("[get_weather(city='Tokyo'), get_weather(city='Paris')]"), "stop")], Fail, Some(K::CallInContent)),
        ("hermes inside reasoning", v, "entity-arun", vec![(with_reasoning(msg_text(""), "reasoning", "<tool_call>{\"name\": \"get_entity_details\", \"arguments\": {\"name\": \"Arun\"}}</tool_call>"), "stop")], Fail, Some(K::CallInContent)),
        ("llama3 parameters JSON", v, "entity-arun", vec![(msg_text("{\"name\": \"get_entity_details\", \"parameters\": {\"name\": \"Arun\"}}"), "stop")], Fail, Some(K::CallInContent)),
        // ---- hallucinated_tool
        ("namespaced name", v, "entity-arun", vec![(msg_calls(None, vec![tc("functions.get_entity_details", "{\"name\": \"Arun\"}")]), "tool_calls")], Fail, Some(K::HallucinatedTool)),
        ("invented tool", v, "entity-arun", vec![(msg_calls(None, vec![tc("lookup_person", "{\"person\": \"Arun\"}")]), "tool_calls")], Fail, Some(K::HallucinatedTool)),
        ("invented tool on greeting", v, "greeting", vec![(msg_calls(Some(""), vec![tc("send_greeting", "{}")]), "tool_calls")], Fail, Some(K::HallucinatedTool)),
        // ---- wrong_tool
        ("memory instead of entity", v, "entity-arun", vec![(msg_calls(None, vec![tc("search_memory", "{\"query\": \"Arun\"}")]), "tool_calls")], Fail, Some(K::WrongTool)),
        ("web instead of memory", v, "memory-priya-launch", vec![(msg_calls(Some(""), vec![tc_obj("web_search", json!({"query": "Priya product launch"}))]), "tool_calls")], Fail, Some(K::WrongTool)),
        ("exact order reversed", v, "recall-then-search", vec![(msg_calls(None, vec![tc("web_search", "{\"query\": \"a\"}"), tc("search_memory", "{\"query\": \"b\"}")]), "tool_calls")], Fail, Some(K::WrongTool)),
        // ---- no_call
        ("llama-cpp-python prose", v, "entity-arun", vec![(msg_text("Arun is a brilliant and talented engineer who has dedicated his life to creating innovative solutions."), "stop")], Fail, Some(K::NoCall)),
        ("refuses memory", v, "memory-priya-launch", vec![(msg_text("I don't have access to your notes."), "stop")], Fail, Some(K::NoCall)),
        ("answers weather from thin air", v, "weather-two-cities", vec![(with_reasoning(msg_text("Tokyo is sunny and Paris is rainy."), "reasoning", "I know this."), "stop")], Fail, Some(K::NoCall)),
        // ---- unexpected_call
        ("search on greeting", v, "greeting", vec![(msg_calls(None, vec![tc("web_search", "{\"query\": \"good morning\"}")]), "tool_calls")], Fail, Some(K::UnexpectedCall)),
        ("malformed call on greeting", v, "greeting", vec![(msg_calls(None, vec![tc("web_search", "{'query': 'good morning'}")]), "tool_calls")], Fail, Some(K::UnexpectedCall)),
        ("text call on greeting", v, "greeting", vec![(msg_text("<tool_call>{\"name\": \"web_search\", \"arguments\": {\"query\": \"hi\"}}</tool_call>"), "stop")], Fail, Some(K::UnexpectedCall)),
        ("call in a chat case", "chat", "capital", vec![(msg_calls(None, vec![tc("web_search", "{\"query\": \"capital of Karnataka\"}")]), "tool_calls")], Fail, Some(K::UnexpectedCall)),
        // ---- missing_call
        ("one of two cities", v, "weather-two-cities", vec![(msg_calls(None, vec![tc("get_weather", "{\"city\": \"Tokyo\"}")]), "tool_calls")], Fail, Some(K::MissingCall)),
        ("only the first of an exact pair", v, "recall-then-search", vec![(msg_calls(None, vec![tc("search_memory", "{\"query\": \"b\"}")]), "tool_calls")], Fail, Some(K::MissingCall)),
        ("twice expected, once made", v, "tokyo-twice", vec![(msg_calls(None, vec![tc("get_weather", "{\"city\": \"Tokyo\"}")]), "tool_calls")], Fail, Some(K::MissingCall)),
        // ---- extra_call
        ("llama.cpp two parallel calls", v, "entity-arun", vec![(msg_calls(Some(""), vec![tc("search_memory", "{\n    \"query\": \"search_memory\"\n}"), tc("get_entity_details", "{\n    \"name\": \"arun\"\n}")]), "tool_calls")], Fail, Some(K::ExtraCall)),
        ("same call twice", v, "entity-arun", vec![(msg_calls(None, vec![tc("get_entity_details", "{\"name\": \"Arun\"}"), tc("get_entity_details", "{\"name\": \"Arun\"}")]), "tool_calls")], Fail, Some(K::ExtraCall)),
        ("third city", v, "weather-two-cities", vec![(msg_calls(None, vec![tc("get_weather", "{\"city\":\"Tokyo\"}"), tc("get_weather", "{\"city\":\"Paris\"}"), tc("get_weather", "{\"city\":\"London\"}")]), "tool_calls")], Fail, Some(K::ExtraCall)),
        // ---- args_invalid_json
        ("single quotes", v, "entity-arun", vec![(msg_calls(None, vec![tc("get_entity_details", "{'name': 'Arun'}")]), "tool_calls")], Fail, Some(K::ArgsInvalidJson)),
        ("python True", v, "timer-five", vec![(msg_calls(None, vec![tc("set_timer", "{\"minutes\": 5, \"loud\": True}")]), "tool_calls")], Fail, Some(K::ArgsInvalidJson)),
        ("array arguments", v, "entity-arun", vec![(msg_calls(None, vec![tc("get_entity_details", "[\"Arun\"]")]), "tool_calls")], Fail, Some(K::ArgsInvalidJson)),
        // ---- args_schema_violation
        ("string for integer", v, "timer-five", vec![(msg_calls(None, vec![tc("set_timer", "{\"minutes\": \"5\"}")]), "tool_calls")], Fail, Some(K::ArgsSchemaViolation)),
        ("required argument missing", v, "entity-arun", vec![(msg_calls(None, vec![tc("get_entity_details", "{}")]), "tool_calls")], Fail, Some(K::ArgsSchemaViolation)),
        ("enum and additionalProperties", v, "weather-extra-ok", vec![(msg_calls(None, vec![tc("get_weather", "{\"city\": \"Tokyo\", \"days\": 2, \"unit\": \"kelvin\", \"lang\": \"en\"}")]), "tool_calls")], Fail, Some(K::ArgsSchemaViolation)),
        // ---- args_mismatch
        ("wrong name value", v, "entity-arun", vec![(msg_calls(None, vec![tc("get_entity_details", "{\"name\": \"Arjun\"}")]), "tool_calls")], Fail, Some(K::ArgsMismatch)),
        ("query misses both words", v, "memory-priya-launch", vec![(msg_calls(None, vec![tc("search_memory", "{\"query\": \"weather tomorrow\"}")]), "tool_calls")], Fail, Some(K::ArgsMismatch)),
        ("out of range + absent violated", v, "timer-five", vec![(msg_calls(None, vec![tc("set_timer", "{\"minutes\": 30, \"label\": \"tea\"}")]), "tool_calls")], Fail, Some(K::ArgsMismatch)),
        ("strict_args extra argument", v, "timer-strict", vec![(msg_calls(None, vec![tc("set_timer", "{\"minutes\": 5.0, \"loud\": true}")]), "tool_calls")], Fail, Some(K::ArgsMismatch)),
        // ---- output_invalid_json
        ("prose instead of JSON", ent, "transcript-1", vec![(msg_text("Priya is a person and Bengaluru is a place."), "stop")], Fail, Some(K::OutputInvalidJson)),
        ("unclosed JSON, stop", ent, "transcript-1", vec![(msg_text("{\"entities\": [{\"name\": \"Priya\""), "stop")], Fail, Some(K::OutputInvalidJson)),
        ("no call for tool output", ent, "transcript-tool", vec![(msg_text("Priya (person), Bengaluru (place)"), "stop")], Fail, Some(K::OutputInvalidJson)),
        // ---- output_schema_violation
        ("entity without type", ent, "transcript-1", vec![(msg_text("{\"entities\": [{\"name\": \"Priya\", \"type\": \"person\"}, {\"name\": \"Bengaluru\"}]}"), "stop")], Fail, Some(K::OutputSchemaViolation)),
        ("wrong top-level key", ent, "transcript-1", vec![(msg_text("{\"people\": [{\"name\": \"Priya\", \"type\": \"person\"}]}"), "stop")], Fail, Some(K::OutputSchemaViolation)),
        ("type is a number", ent, "transcript-1", vec![(msg_text("{\"entities\": [{\"name\": \"Priya\", \"type\": 1}, {\"name\": \"Bengaluru\", \"type\": \"place\"}]}"), "stop")], Fail, Some(K::OutputSchemaViolation)),
        // ---- entities_missing
        ("one of two", ent, "transcript-1", vec![(msg_text("{\"entities\": [{\"name\": \"Priya\", \"type\": \"person\"}]}"), "stop")], Fail, Some(K::EntitiesMissing)),
        ("empty list", ent, "transcript-1", vec![(msg_text("{\"entities\": []}"), "stop")], Fail, Some(K::EntitiesMissing)),
        ("different names", ent, "transcript-1", vec![(msg_text("```json\n{\"entities\": [{\"name\": \"Priyanka\", \"type\": \"person\"}, {\"name\": \"Mysuru\", \"type\": \"place\"}]}\n```"), "stop")], Fail, Some(K::EntitiesMissing)),
        // ---- entities_spurious
        ("two extra entities", ent, "transcript-1", vec![(msg_text("{\"entities\": [{\"name\": \"Priya\", \"type\": \"person\"}, {\"name\": \"ಬೆಂಗಳೂರು\", \"type\": \"place\"}, {\"name\": \"launch\", \"type\": \"event\"}, {\"name\": \"Monday\", \"type\": \"date\"}]}"), "stop")], Fail, Some(K::EntitiesSpurious)),
        ("duplicates count", ent, "transcript-1", vec![(msg_text("{\"entities\": [{\"name\": \"Priya\", \"type\": \"person\"}, {\"name\": \"priya\", \"type\": \"person\"}, {\"name\": \"PRIYA\", \"type\": \"person\"}, {\"name\": \"Bengaluru\", \"type\": \"place\"}]}"), "stop")], Fail, Some(K::EntitiesSpurious)),
        ("tool output with extras", ent, "transcript-tool", vec![(msg_calls(None, vec![tc_obj("save_entities", json!({"entities": [{"name": "Priya", "type": "person"}, {"name": "Bengaluru", "type": "place"}, {"name": "Arun", "type": "person"}, {"name": "Infosys", "type": "organization"}]}))]), "tool_calls")], Fail, Some(K::EntitiesSpurious)),
        // ---- entity_type_mismatch
        ("person typed as place", ent, "transcript-1", vec![(msg_text("{\"entities\": [{\"name\": \"Priya\", \"type\": \"place\"}, {\"name\": \"Bengaluru\", \"type\": \"place\"}]}"), "stop")], Fail, Some(K::EntityTypeMismatch)),
        ("alias with wrong type", ent, "transcript-1", vec![(msg_text("{\"entities\": [{\"name\": \"Priya\", \"type\": \"person\"}, {\"name\": \"Bangalore\", \"type\": \"organization\"}]}"), "stop")], Fail, Some(K::EntityTypeMismatch)),
        ("types swapped", ent, "transcript-1", vec![(msg_text("Entities: {\"entities\": [{\"name\": \"Priya\", \"type\": \"place\"}, {\"name\": \"Bengaluru\", \"type\": \"person\"}]}"), "stop")], Fail, Some(K::EntityTypeMismatch)),
        // ---- thinking_leak
        ("think block in content", "chat", "capital", vec![(msg_text("<think>Capital of Karnataka.</think>\nIt is Bengaluru."), "stop")], Fail, Some(K::ThinkingLeak)),
        ("reasoning preamble", "chat", "capital", vec![(msg_text("Okay, so the user wants the capital. It is Bengaluru."), "stop")], Fail, Some(K::ThinkingLeak)),
        ("qwen3 lone close tag", "chat", "capital", vec![(msg_text("The user asks for a capital.\n</think>\n\nBengaluru."), "stop")], Fail, Some(K::ThinkingLeak)),
        // ---- markdown
        ("bold", "chat", "capital", vec![(msg_text("The capital is **Bengaluru**."), "stop")], Fail, Some(K::Markdown)),
        ("bullets", "chat", "capital", vec![(msg_text("Cities:\n- Bengaluru\n- Mysuru"), "stop")], Fail, Some(K::Markdown)),
        ("heading", "chat", "capital", vec![(msg_text("## Answer\nBengaluru"), "stop")], Fail, Some(K::Markdown)),
        // ---- wrong_decision (and the ask/refuse passes and their other failures)
        ("asks where", v, "book-it-ask", vec![(msg_text("Where should I book it, and for what time?"), "stop")], Pass, None),
        ("asks in Kannada", v, "book-it-ask", vec![(msg_text("ಯಾವ ಜಾಗ? Which place do you mean?"), "stop")], Pass, None),
        ("declines", v, "order-pizza-refuse", vec![(msg_text("Sorry, I can't order food: I have no tool for that."), "stop")], Pass, None),
        ("answers instead of asking", v, "book-it-ask", vec![(msg_text("Done, I booked it for tomorrow."), "stop")], Fail, Some(K::WrongDecision)),
        ("refuses instead of asking", v, "book-it-ask", vec![(msg_text("I'm unable to book anything."), "stop")], Fail, Some(K::WrongDecision)),
        ("answers instead of declining", v, "order-pizza-refuse", vec![(msg_text("Your pizza is on its way."), "stop")], Fail, Some(K::WrongDecision)),
        ("guesses a call instead of asking", v, "book-it-ask", vec![(msg_calls(None, vec![tc("web_search", "{\"query\": \"book tomorrow\"}")]), "tool_calls")], Fail, Some(K::UnexpectedCall)),
        ("asks about the wrong thing", v, "book-it-ask", vec![(msg_text("Do you want it cheap?"), "stop")], Fail, Some(K::MissingFact)),
        // ---- missing_fact
        ("wrong city", "chat", "capital", vec![(msg_text("It is Mysuru."), "stop")], Fail, Some(K::MissingFact)),
        ("contains misses one", "chat", "capital-facts", vec![(msg_text("Bengaluru is the capital."), "stop")], Fail, Some(K::MissingFact)),
        ("contains misses all", "chat", "capital-facts", vec![(msg_text("I am not sure."), "stop")], Fail, Some(K::MissingFact)),
        // ---- gate_failed
        ("not_contains", "chat", "capital", vec![(msg_text("As an AI, I can tell you it is Bengaluru."), "stop")], Fail, Some(K::GateFailed)),
        ("max_words", "chat", "capital", vec![(msg_text(&format!("Bengaluru {}", "is a lovely city ".repeat(10))), "stop")], Fail, Some(K::GateFailed)),
        ("not_contains folded", "chat", "capital", vec![(msg_text("Bangalore, AS  AN AI would say."), "stop")], Fail, Some(K::GateFailed)),
        // ---- conversation failing on turn 1
        ("conversation second turn markdown", "conversation", "trip", vec![
            (msg_calls(None, vec![tc("get_weather", "{\"city\": \"Tokyo\"}")]), "tool_calls"),
            (msg_text("**Yes**, take an umbrella."), "stop"),
        ], Fail, Some(K::Markdown)),
    ]
}

fn find<'a>(suites: &'a [Suite], s: &str, c: &str) -> (&'a Suite, &'a Case) {
    let suite = suites.iter().find(|x| x.name == s).unwrap();
    (suite, suite.case(c).unwrap())
}

#[test]
fn every_row_gets_its_verdict_and_primary_kind() {
    let suites = fixtures();
    let mut problems = Vec::new();
    for (label, s, c, turns, verdict, kind) in rows() {
        let (suite, case) = find(&suites, s, c);
        let g = grade(suite, case, &record(suite, case, turns));
        if g.verdict != verdict || g.failure != kind {
            problems.push(format!(
                "{label}: want {verdict:?}/{kind:?}, got {:?}/{:?} — {} {:?}",
                g.verdict, g.failure, g.diagnosis, g.findings
            ));
        }
        if g.verdict == Verdict::Fail {
            assert_eq!(
                g.failure,
                Some(g.findings[0].kind),
                "{label}: failure is findings[0]"
            );
            assert!(
                g.findings.windows(2).all(|w| w[0].kind <= w[1].kind),
                "{label}: findings sorted"
            );
        } else {
            assert!(g.findings.is_empty(), "{label}");
        }
        assert!(
            !g.diagnosis.is_empty() && !g.diagnosis.contains('\n'),
            "{label}: one-line diagnosis"
        );
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn at_least_three_rows_per_kind() {
    let rows = rows();
    for k in FailureKind::ALL {
        let n = rows.iter().filter(|r| r.5 == Some(k)).count();
        assert!(n >= 3, "{k:?} has {n} rows");
    }
    assert!(rows.iter().filter(|r| r.4 == Verdict::Pass).count() >= 3);
}

#[test]
fn infra_errors_pass_through() {
    let suites = fixtures();
    for (s, c, kind, turn) in [
        ("voice-3tool", "entity-arun", ErrorKind::Connect, 0),
        ("voice-3tool", "greeting", ErrorKind::Http5xx, 0),
        ("conversation", "trip", ErrorKind::Timeout, 1),
        ("entities", "transcript-1", ErrorKind::Protocol, 0),
    ] {
        let (suite, case) = find(&suites, s, c);
        let mut r = error_record(
            suite,
            case,
            kind,
            "The model produced output that does not match the expected peg-native format",
            turn,
        );
        // A first turn that would fail must not turn an infra error into a model failure.
        r.turns = vec![TurnRecord {
            turn: 0,
            message: Some(msg_text("")),
            finish_reason: Some("stop".into()),
            ..Default::default()
        }];
        let g = grade(suite, case, &r);
        assert_eq!(g.verdict, Verdict::Error);
        assert_eq!(g.error_kind, Some(kind));
        assert!(g.failure.is_none() && g.findings.is_empty());
    }
}

#[test]
fn call_in_content_says_whether_it_would_have_passed() {
    let suites = fixtures();
    let (suite, case) = find(&suites, "voice-3tool", "entity-arun");
    let pass = grade(suite, case, &record(suite, case, vec![(msg_text("<tool_call>\n{\"name\": \"get_entity_details\", \"arguments\": {\"name\": \"Arun\"}}\n</tool_call>"), "stop")]));
    let d = pass.findings[0].detail.as_ref().unwrap();
    assert_eq!(d["would_pass"], json!(true));
    assert_eq!(d["format"], json!("hermes"));
    let fail = grade(
        suite,
        case,
        &record(
            suite,
            case,
            vec![(
                msg_text(
                    "<function=get_entity_details><parameter=name>Arjun</parameter></function>",
                ),
                "stop",
            )],
        ),
    );
    let d = fail.findings[0].detail.as_ref().unwrap();
    assert_eq!(d["would_pass"], json!(false));
    assert_eq!(d["would_fail_with"][0]["kind"], json!("args_mismatch"));
    assert_eq!(fail.answer, Some(AnswerClass::CallInContent));
}

#[test]
fn diagnosis_reads_like_the_issue() {
    let suites = fixtures();
    let (suite, case) = find(&suites, "voice-3tool", "entity-arun");
    let g = grade(
        suite,
        case,
        &record(
            suite,
            case,
            vec![(
                msg_calls(None, vec![tc("search_memory", "{\"query\": \"Arun\"}")]),
                "tool_calls",
            )],
        ),
    );
    assert_eq!(
        g.diagnosis,
        "expected get_entity_details(name≈\"Arun\"), got search_memory(query=\"Arun\")"
    );
    assert_eq!(g.expected_tools, vec!["get_entity_details"]);
    assert_eq!(g.actual_tools, vec!["search_memory"]);
}

#[test]
fn schema_errors_are_all_kept_with_paths() {
    let suites = fixtures();
    let (suite, case) = find(&suites, "voice-3tool", "weather-extra-ok");
    let g = grade(
        suite,
        case,
        &record(
            suite,
            case,
            vec![(
                msg_calls(
                    None,
                    vec![tc(
                        "get_weather",
                        "{\"city\": 1, \"days\": 9, \"unit\": \"kelvin\"}",
                    )],
                ),
                "tool_calls",
            )],
        ),
    );
    let f = g
        .findings
        .iter()
        .find(|f| f.kind == FailureKind::ArgsSchemaViolation)
        .unwrap();
    let paths: Vec<&str> = f.detail.as_ref().unwrap()["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    for p in ["/city", "/days", "/unit"] {
        assert!(paths.contains(&p), "{paths:?}");
    }
}

#[test]
fn entity_scores_and_lists() {
    let suites = fixtures();
    let (suite, case) = find(&suites, "entities", "transcript-1");
    let g = grade(suite, case, &record(suite, case, vec![(msg_text("{\"entities\": [{\"name\": \"Priya\", \"type\": \"person\"}, {\"name\": \"Mysuru\", \"type\": \"place\"}]}"), "stop")]));
    let s = g.scores.unwrap();
    assert_eq!(
        (s.true_positives, s.false_positives, s.false_negatives),
        (1, 1, 1)
    );
    assert_eq!((s.precision, s.recall), (0.5, 0.5));
    assert_eq!(s.missed, vec!["Bengaluru (place)"]);
    assert_eq!(s.spurious, vec!["Mysuru (place)"]);
    assert_eq!(s.source.as_deref(), Some("content"));
}

#[test]
fn grade_all_keeps_order_and_flags_unknown_cases() {
    let suites = fixtures();
    let mut recs: Vec<ResponseRecord> = rows()
        .into_iter()
        .map(|(_, s, c, turns, _, _)| {
            let (suite, case) = find(&suites, s, c);
            record(suite, case, turns)
        })
        .collect();
    let mut ghost = recs[0].clone();
    ghost.key.case = "deleted-case".into();
    recs.insert(3, ghost);
    let a = grade_all(&suites, &recs);
    assert_eq!(a.len(), recs.len());
    for (g, r) in a.iter().zip(&recs) {
        assert_eq!(g.key, r.key);
    }
    assert_eq!(a[3].verdict, Verdict::Error);
    assert!(a[3].diagnosis.contains("case not found"));
    // Deterministic: byte-identical JSON lines on a second pass.
    let lines = |v: &[GradeRecord]| {
        v.iter()
            .map(|g| serde_json::to_string(g).unwrap())
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(lines(&a), lines(&grade_all(&suites, &recs)));
}

#[test]
fn snapshot_of_the_table() {
    let suites = fixtures();
    let graded: Vec<serde_json::Value> = rows()
        .into_iter()
        .map(|(label, s, c, turns, _, _)| {
            let (suite, case) = find(&suites, s, c);
            let g = grade(suite, case, &record(suite, case, turns));
            json!({ "row": label, "grade": g })
        })
        .collect();
    insta::assert_yaml_snapshot!("grade_table", graded);
}
