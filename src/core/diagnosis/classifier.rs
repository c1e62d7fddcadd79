//! Scores the rule table over cleaned evidence and picks a failure class.
//!
//! Every rule that matches an evidence item becomes a hit whose score is the
//! rule's weight, scaled by where the text came from (the JobRun error
//! message is Glue's own summary and counts most; an output-log line least,
//! and a WARN or INFO line less than an ERROR one) and by where in the text
//! the match sits (after a Java "Caused by:" it is closer to the root cause;
//! after Python's "During handling of the above exception" it is a
//! consequence; after the last frame of a Python traceback it is the
//! exception line itself; inside a Glue exception-analysis record Glue
//! already picked it as the failure reason). A rule with an `unless` pattern
//! does not fire on text that the pattern matches: a generic wrapper ("Job
//! aborted due to stage failure") stays silent when the text names its nested
//! exception, which then decides. A class scores its best hit plus a little for
//! each further distinct rule that agrees. The best class wins; its
//! confidence shrinks with the score of the runner-up, so a close call is
//! reported as one. Below `opinion::MIN_RULE_SCORE` the rules name no class;
//! `opinion` decides with the learned second opinion.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, DefaultHasher};
use std::sync::LazyLock;

use regex::bytes::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};

use crate::core::diagnosis::gates::gate_literals;
use crate::core::diagnosis::patterns::{CLASSIFIER_RULES, Rule};
use crate::core::diagnosis::text::{EvidenceItem, excerpt};
use crate::core::model::{FailureClass, TextSource};

/// Highest confidence the text alone can give.
const MAX_TEXT_CONFIDENCE: f64 = 0.97;
/// Bonus per further distinct rule agreeing on a class, and its cap.
const AGREEMENT_BONUS: f64 = 0.04;
const MAX_AGREEMENT_BONUS: f64 = 0.08;
/// Signals kept per classification.
const MAX_SIGNALS: usize = 8;

struct CompiledRules {
    /// One pattern per gated rule: the alternation of its gate literals.
    gates: RegexSet,
    /// Rule index of each gate pattern.
    gated_rule: Vec<usize>,
    /// Rules without a gate, checked on every text.
    ungated: Vec<usize>,
    each: Vec<Regex>,
    /// Per rule, its `unless` pattern when it has one.
    unless: Vec<Option<Regex>>,
    /// Per rule, whether its pattern and its `unless` match with case
    /// folding on the text as it is (else: on the lowercased text).
    folds_case: Vec<(bool, bool)>,
}

/// Cache of the gate set's lazy DFA. Literals only, so the DFA is a trie
/// and its states do not multiply with the rules' windows (see `gates`).
const GATE_SET_DFA_CACHE_BYTES: usize = 4 << 20;

/// The rule table compiled once per process. The patterns are constants
/// checked by `rules_compile` below, so a failure here is a build defect;
/// it degrades to "no rule matches" rather than panicking.
static COMPILED: LazyLock<Option<CompiledRules>> = LazyLock::new(|| {
    // A pattern without an uppercase letter of its own matches the ASCII-
    // lowercased text case-sensitively exactly where it matches the text
    // case-insensitively (same byte offsets), and the regex engine's literal
    // search is faster without case folding. Others keep case folding.
    let build =
        |pattern: &str| RegexBuilder::new(pattern).case_insensitive(has_own_uppercase(pattern)).unicode(false).build();
    let each = CLASSIFIER_RULES.iter().map(|rule| build(rule.pattern)).collect::<Result<Vec<Regex>, _>>().ok()?;
    let unless = CLASSIFIER_RULES
        .iter()
        .map(|rule| if rule.unless.is_empty() { Ok(None) } else { build(rule.unless).map(Some) })
        .collect::<Result<Vec<Option<Regex>>, _>>()
        .ok()?;
    let mut gate_patterns: Vec<String> = Vec::new();
    let mut gated_rule: Vec<usize> = Vec::new();
    let mut ungated: Vec<usize> = Vec::new();
    for (rule_index, rule) in CLASSIFIER_RULES.iter().enumerate() {
        match gate_literals(rule.pattern) {
            Some(literals) => {
                let escaped: Vec<String> = literals.iter().map(|literal| regex::escape(literal)).collect();
                gate_patterns.push(escaped.join("|"));
                gated_rule.push(rule_index);
            }
            None => ungated.push(rule_index),
        }
    }
    let gates =
        RegexSetBuilder::new(&gate_patterns).unicode(false).dfa_size_limit(GATE_SET_DFA_CACHE_BYTES).build().ok()?;
    let folds_case =
        CLASSIFIER_RULES.iter().map(|rule| (has_own_uppercase(rule.pattern), has_own_uppercase(rule.unless))).collect();
    Some(CompiledRules { gates, gated_rule, ungated, each, unless, folds_case })
});

/// Whether `pattern` has an ASCII uppercase letter outside an escape (`\S`, `\W`, ...).
fn has_own_uppercase(pattern: &str) -> bool {
    let mut characters = pattern.chars();
    while let Some(character) = characters.next() {
        if character == '\\' {
            characters.next();
        } else if character.is_ascii_uppercase() {
            return true;
        }
    }
    false
}

impl CompiledRules {
    /// Rules that can match `lowercase` (its gate literal occurs, or it has none), in table order.
    fn candidates(&self, lowercase: &str) -> Vec<usize> {
        let mut candidates: Vec<usize> =
            self.gates.matches(lowercase.as_bytes()).iter().map(|gate| self.gated_rule[gate]).collect();
        candidates.extend_from_slice(&self.ungated);
        candidates.sort_unstable();
        candidates
    }
}

/// One rule matching one evidence item.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub rule: &'static Rule,
    pub source: TextSource,
    /// Index of the item within the analysed evidence.
    pub item: usize,
    /// Line number (from 1) within its log source; 0 for the JobRun message.
    pub line: usize,
    pub score: f64,
    pub excerpt: String,
}

/// Hits over all evidence, and the ranking of classes they give.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TextAnalysis {
    pub hits: Vec<Hit>,
    /// Score per class, indexed like `FailureClass::ALL`.
    pub class_scores: [f64; 9],
}

impl TextAnalysis {
    /// The best class with its score, and the runner-up's score.
    #[cfg(test)]
    pub fn ranking(&self) -> (FailureClass, f64, f64) {
        crate::core::diagnosis::opinion::rank(&self.class_scores)
    }

    pub fn score(&self, class: FailureClass) -> f64 {
        self.class_scores[class_index(class)]
    }

    /// Confidence of `class` given the competition from every other class.
    pub fn confidence_of(&self, class: FailureClass) -> f64 {
        if class == FailureClass::Unknown {
            return 0.0;
        }
        let own = self.score(class);
        let strongest_other = FailureClass::ALL
            .into_iter()
            .filter(|other| *other != class)
            .map(|other| self.score(other))
            .fold(0.0_f64, f64::max);
        (own - 0.4 * strongest_other).clamp(0.0, MAX_TEXT_CONFIDENCE)
    }

    /// Hits supporting `class`, strongest first.
    pub fn hits_for(&self, class: FailureClass) -> Vec<&Hit> {
        let mut supporting: Vec<&Hit> = self.hits.iter().filter(|hit| hit.rule.class == class).collect();
        supporting.sort_by(|left, right| right.score.total_cmp(&left.score).then(left.item.cmp(&right.item)));
        supporting
    }

    /// Signals for `class`: its own hits first, then the strongest others.
    pub fn signals_for(&self, class: FailureClass) -> Vec<String> {
        let mut ordered: Vec<&Hit> = self.hits_for(class);
        let mut others: Vec<&Hit> = self.hits.iter().filter(|hit| hit.rule.class != class).collect();
        others.sort_by(|left, right| right.score.total_cmp(&left.score).then(left.item.cmp(&right.item)));
        ordered.extend(others);
        ordered.into_iter().take(MAX_SIGNALS).map(describe_hit).collect()
    }

    /// Sources of the evidence items that support `class`.
    pub fn sources_for(&self, class: FailureClass) -> Vec<TextSource> {
        let mut sources: Vec<TextSource> = Vec::new();
        for hit in self.hits.iter().filter(|hit| hit.rule.class == class) {
            if !sources.contains(&hit.source) {
                sources.push(hit.source);
            }
        }
        sources
    }
}

fn describe_hit(hit: &Hit) -> String {
    let place = match hit.line {
        0 => source_name(hit.source).to_string(),
        line => format!("{} line {line}", source_name(hit.source)),
    };
    format!("{place}: rule {} -> {} ({:.2}): {}", hit.rule.name, hit.rule.class, hit.score, hit.excerpt)
}

pub fn source_name(source: TextSource) -> &'static str {
    match source {
        TextSource::JobRunErrorMessage => "job_run_error_message",
        TextSource::ErrorLog => "error_log",
        TextSource::OutputLog => "output_log",
    }
}

pub fn class_index(class: FailureClass) -> usize {
    FailureClass::ALL.iter().position(|candidate| *candidate == class).unwrap_or(FailureClass::ALL.len() - 1)
}

/// Score every rule over every item.
pub fn analyse(items: &[EvidenceItem]) -> TextAnalysis {
    let mut analysis = TextAnalysis::default();
    let Some(compiled) = COMPILED.as_ref() else {
        return analysis;
    };
    // A JobRun message is often repeated as an error-log line: the rules
    // match each distinct text once (the matches depend on the text only;
    // the score also on where it came from).
    let mut matched: HashMap<&str, Vec<RuleMatch>, BuildHasherDefault<DefaultHasher>> = HashMap::default();
    for (item_position, item) in items.iter().enumerate() {
        let matches = matched.entry(item.text.as_str()).or_insert_with(|| compiled.matches(&item.text));
        if matches.is_empty() {
            continue;
        }
        let context = ItemContext::of(item);
        for found in matches.iter() {
            let rule = &CLASSIFIER_RULES[found.rule];
            let score = (rule.weight * context.factor_at(found.start)).min(1.0);
            analysis.hits.push(Hit {
                rule,
                source: item.source,
                item: item_position,
                line: if item.source == TextSource::JobRunErrorMessage { 0 } else { item.index + 1 },
                score,
                excerpt: excerpt(&item.text, found.start, found.end),
            });
        }
    }
    analysis.class_scores = class_scores(&analysis.hits);
    analysis
}

/// A rule matching a text (not vetoed by its `unless`), and where.
struct RuleMatch {
    rule: usize,
    start: usize,
    end: usize,
}

impl CompiledRules {
    fn matches(&self, text: &str) -> Vec<RuleMatch> {
        let lowercase = text.to_ascii_lowercase();
        let pick = |folds_case: bool| if folds_case { text.as_bytes() } else { lowercase.as_bytes() };
        let mut found = Vec::new();
        for rule in self.candidates(&lowercase) {
            let (pattern_folds, unless_folds) = self.folds_case.get(rule).copied().unwrap_or((true, true));
            let Some(location) = self.each.get(rule).and_then(|regex| regex.find(pick(pattern_folds))) else {
                continue;
            };
            let vetoed = self
                .unless
                .get(rule)
                .and_then(Option::as_ref)
                .is_some_and(|unless| unless.is_match(pick(unless_folds)));
            if !vetoed {
                found.push(RuleMatch { rule, start: location.start(), end: location.end() });
            }
        }
        found
    }
}

fn class_scores(hits: &[Hit]) -> [f64; 9] {
    let mut scores = [0.0_f64; 9];
    for class in FailureClass::ALL {
        let mut best_per_rule: Vec<(&str, f64)> = Vec::new();
        for hit in hits.iter().filter(|hit| hit.rule.class == class) {
            match best_per_rule.iter_mut().find(|(name, _)| *name == hit.rule.name) {
                Some(entry) => entry.1 = entry.1.max(hit.score),
                None => best_per_rule.push((hit.rule.name, hit.score)),
            }
        }
        let best = best_per_rule.iter().map(|(_, score)| *score).fold(0.0_f64, f64::max);
        let further_rules = best_per_rule.len().saturating_sub(1) as f64;
        let bonus = (further_rules * AGREEMENT_BONUS).min(MAX_AGREEMENT_BONUS);
        scores[class_index(class)] = if best > 0.0 { (best + bonus).min(1.0) } else { 0.0 };
    }
    scores
}

/// What scales a hit within one item: its source, its log level, and
/// landmarks of exception chains.
struct ItemContext {
    base: f64,
    caused_by_at: Option<usize>,
    consequence_at: Option<usize>,
    /// End of the last frame of a Python traceback: what follows is the
    /// exception line, the traceback's own root cause.
    python_exception_at: Option<usize>,
}

static CAUSED_BY: LazyLock<Option<Regex>> =
    LazyLock::new(|| RegexBuilder::new(r"caused by:|root cause").case_insensitive(true).unicode(false).build().ok());
static CONSEQUENCE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    RegexBuilder::new(r"during handling of the above exception|the above exception was the direct cause")
        .case_insensitive(true)
        .unicode(false)
        .build()
        .ok()
});
static GLUE_ANALYSIS: LazyLock<Option<Regex>> = LazyLock::new(|| {
    RegexBuilder::new(r"glue exception analysis|glueexceptionanalysislistener|failure reason")
        .case_insensitive(true)
        .unicode(false)
        .build()
        .ok()
});
static PYTHON_TRACEBACK: LazyLock<Option<Regex>> = LazyLock::new(|| {
    RegexBuilder::new(r"traceback \(most recent call last\)").case_insensitive(true).unicode(false).build().ok()
});
static PYTHON_FRAME: LazyLock<Option<Regex>> = LazyLock::new(|| {
    RegexBuilder::new(r#"\bfile "[^"]{0,300}", line \d+"#).case_insensitive(true).unicode(false).build().ok()
});
static LOG_LEVEL: LazyLock<Option<Regex>> = LazyLock::new(|| {
    RegexBuilder::new(r"^.{0,48}?\b(warn|warning|info|debug)\b").case_insensitive(true).unicode(false).build().ok()
});

impl ItemContext {
    fn of(item: &EvidenceItem) -> ItemContext {
        let bytes = item.text.as_bytes();
        let find = |regex: &LazyLock<Option<Regex>>| regex.as_ref().and_then(|compiled| compiled.find(bytes));
        let mut base = match item.source {
            TextSource::JobRunErrorMessage => 1.0,
            TextSource::ErrorLog => 0.9,
            TextSource::OutputLog => 0.75,
        };
        let log_level = if item.source == TextSource::JobRunErrorMessage { None } else { find(&LOG_LEVEL) };
        if let Some(level) = log_level {
            let level_text = bytes[level.start()..level.end()].to_ascii_lowercase();
            base *= if level_text.ends_with(b"warn") || level_text.ends_with(b"warning") { 0.7 } else { 0.5 };
        }
        if find(&GLUE_ANALYSIS).is_some() {
            base *= 1.05;
        }
        let python_exception_at = find(&PYTHON_TRACEBACK).and_then(|traceback| {
            let frames = PYTHON_FRAME.as_ref()?;
            frames.find_iter(&bytes[traceback.end()..]).last().map(|frame| traceback.end() + frame.end())
        });
        ItemContext {
            base,
            caused_by_at: find(&CAUSED_BY).map(|found| found.start()),
            consequence_at: find(&CONSEQUENCE).map(|found| found.start()),
            python_exception_at,
        }
    }

    fn factor_at(&self, position: usize) -> f64 {
        let mut factor = self.base;
        if self.caused_by_at.is_some_and(|marker| position > marker) {
            factor *= 1.08;
        }
        if self.consequence_at.is_some_and(|marker| position > marker) {
            factor *= 0.85;
        }
        if self.python_exception_at.is_some_and(|marker| position >= marker) {
            factor *= 1.08;
        }
        factor
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(source: TextSource, text: &str) -> EvidenceItem {
        EvidenceItem { source, index: 0, text: text.to_string() }
    }

    #[test]
    fn rules_compile() {
        assert!(COMPILED.is_some(), "a rule pattern does not compile");
        assert!(CAUSED_BY.is_some() && CONSEQUENCE.is_some() && GLUE_ANALYSIS.is_some() && LOG_LEVEL.is_some());
        assert!(PYTHON_TRACEBACK.is_some() && PYTHON_FRAME.is_some());
    }

    #[test]
    fn lowercased_matching_is_only_used_where_it_is_exact() {
        assert!(!has_own_uppercase(r"\bslowdown\b|\S+ is empty|[^\]]"));
        assert!(has_own_uppercase(r"[A-Z]{3}-\d+"));
        let uppercase_rules: Vec<&str> =
            CLASSIFIER_RULES.iter().filter(|rule| has_own_uppercase(rule.pattern)).map(|rule| rule.name).collect();
        assert!(uppercase_rules.is_empty(), "rules matched with case folding (slower): {uppercase_rules:?}");
    }

    #[test]
    fn every_rule_has_a_literal_gate() {
        let ungated: Vec<&str> = CLASSIFIER_RULES
            .iter()
            .filter(|rule| gate_literals(rule.pattern).is_none())
            .map(|rule| rule.name)
            .collect();
        assert!(ungated.is_empty(), "rules without a gate run on every text: {ungated:?}");
        assert!(COMPILED.as_ref().is_some_and(|compiled| compiled.ungated.is_empty()));
    }

    #[test]
    fn rule_names_are_unique_and_weights_in_range() {
        let mut names: Vec<&str> = CLASSIFIER_RULES.iter().map(|rule| rule.name).collect();
        names.sort_unstable();
        let count = names.len();
        names.dedup();
        assert_eq!(names.len(), count, "duplicate rule name");
        assert!(CLASSIFIER_RULES.iter().all(|rule| rule.weight > 0.0 && rule.weight <= 1.0));
        assert!(CLASSIFIER_RULES.iter().all(|rule| rule.class != FailureClass::Unknown));
    }

    #[test]
    fn every_failure_class_but_unknown_has_rules() {
        for class in FailureClass::ALL {
            let has_rule = CLASSIFIER_RULES.iter().any(|rule| rule.class == class);
            assert_eq!(has_rule, class != FailureClass::Unknown, "{class}");
        }
    }

    #[test]
    fn root_cause_beats_wrapper() {
        let analysis = analyse(&[item(
            TextSource::JobRunErrorMessage,
            "An error occurred while calling o85.pyWriteDynamicFrame. Job aborted. Caused by: java.io.IOException: No space left on device",
        )]);
        assert_eq!(analysis.ranking().0, FailureClass::ResourceExhaustion);
        assert_eq!(analysis.hits_for(FailureClass::ResourceExhaustion)[0].rule.name, "disk_full");
    }

    #[test]
    fn a_stage_failure_wrapper_is_silent_when_it_names_the_task_exception() {
        let nested = analyse(&[item(
            TextSource::ErrorLog,
            "org.apache.spark.SparkException: Job aborted due to stage failure: Task 1 in stage 4.0 failed 4 times, most recent failure: Lost task 1.3 in stage 4.0 (TID 56) (10.0.0.1 executor 2): java.io.FileNotFoundException: No such file or directory: s3://b/k",
        )]);
        assert!(nested.hits.iter().all(|hit| hit.rule.name != "spark_job_aborted"));
        assert_eq!(nested.ranking().0, FailureClass::SourceUnavailable);
        let bare = analyse(&[item(
            TextSource::JobRunErrorMessage,
            "An error occurred while calling o150.count. Job aborted due to stage failure: Task 0 in stage 5.0 failed 4 times",
        )]);
        assert!(bare.hits.iter().any(|hit| hit.rule.name == "spark_job_aborted"));
    }

    #[test]
    fn a_runtime_exception_inside_a_glue_call_is_not_blamed_on_the_script() {
        let glue_call = analyse(&[item(
            TextSource::JobRunErrorMessage,
            "An error occurred while calling o12.pyWriteDynamicFrame. : java.lang.NullPointerException",
        )]);
        assert_eq!(glue_call.ranking().0, FailureClass::Unknown);
        let user_code = analyse(&[item(
            TextSource::JobRunErrorMessage,
            "Exception in User Class: java.lang.NullPointerException at com.acme.Job$.main(Job.scala:10)",
        )]);
        assert_eq!(user_code.ranking().0, FailureClass::CodeBug);
    }

    #[test]
    fn the_exception_line_of_a_python_traceback_counts_more_than_its_frames() {
        let score = |text: &str| analyse(&[item(TextSource::ErrorLog, text)]).score(FailureClass::CodeBug);
        let exception_line =
            score(r#"Traceback (most recent call last): File "/tmp/job.py", line 3, in <module> KeyError: 'a'"#);
        let same_words_in_a_frame =
            score(r#"Traceback (most recent call last): KeyError: 'a' File "/tmp/job.py", line 3, in <module>"#);
        assert!(exception_line > same_words_in_a_frame, "{exception_line} vs {same_words_in_a_frame}");
    }

    #[test]
    fn same_text_weighs_more_in_the_job_run_message_than_in_a_warn_line() {
        let message = analyse(&[item(TextSource::JobRunErrorMessage, "Rate exceeded")]);
        let warn = analyse(&[item(TextSource::OutputLog, "21/01/01 WARN Client: Rate exceeded")]);
        assert!(message.score(FailureClass::TransientInfra) > warn.score(FailureClass::TransientInfra));
    }

    #[test]
    fn python_consequence_counts_less_than_its_cause() {
        let analysis = analyse(&[item(
            TextSource::ErrorLog,
            "ModuleNotFoundError: No module named 'pydeequ' During handling of the above exception, another exception occurred: AttributeError: 'X' object has no attribute 'y'",
        )]);
        assert_eq!(analysis.ranking().0, FailureClass::PermissionConfig);
    }

    #[test]
    fn close_calls_get_lower_confidence() {
        let clear = analyse(&[item(TextSource::JobRunErrorMessage, "java.lang.OutOfMemoryError: Java heap space")]);
        let mixed = analyse(&[item(
            TextSource::JobRunErrorMessage,
            "java.lang.OutOfMemoryError: Java heap space; AccessDenied on s3://bucket/key",
        )]);
        let class = FailureClass::ResourceExhaustion;
        assert!(clear.confidence_of(class) > mixed.confidence_of(class));
    }

    #[test]
    fn signals_name_the_rule_the_source_and_the_log_line() {
        let line = EvidenceItem { source: TextSource::ErrorLog, index: 4, text: "ERROR Rate exceeded".to_string() };
        let signals = analyse(&[line]).signals_for(FailureClass::TransientInfra);
        assert!(signals[0].starts_with("error_log line 5: rule throttling -> transient_infra"), "{signals:?}");
    }

    #[test]
    fn nothing_matching_is_unknown() {
        let analysis = analyse(&[item(TextSource::JobRunErrorMessage, "everything is fine")]);
        assert_eq!(analysis.ranking().0, FailureClass::Unknown);
        assert!(analysis.hits.is_empty());
    }
}
