//! The image decisions view (`i` in the console, `flotilla images`): an ImagePolicy's scan, every tag's
//! fate, the Git markers that reference the policy, the automation's last push and the image running in
//! each cluster. Pure: gathered by `views::images::decisions`, rendered here.

use serde::Serialize;

use crate::controllers::image::policy::{Explanation, TagFate};

/// Tag lists up to this long are always shown whole; longer ones keep only the chosen, candidate and
/// previous tags and count the rest by fate (unless every tag is asked for).
pub const SHOW_ALL_UP_TO: usize = 20;

/// What a rendered line says, for a front end to style: the view knows meanings, not colours (the
/// console maps them to its theme in `tui::report_view`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meaning {
    /// Ordinary text.
    Plain,
    /// A section heading.
    Heading,
    /// The decision holds (the chosen tag, a marker or running image on the latest ref).
    Confirmed,
    /// Something is wrong (an error, an image or marker that differs from the decision).
    Problem,
    /// Less important (filtered-out tags, counts of hidden tags).
    Minor,
}

/// Everything the view shows (filled in by `views::images::decisions::image_decisions`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageDecisions {
    /// The policy the decisions are about, `namespace/name` (several: comma-separated; none: empty).
    pub policy: String,
    /// What was asked about, e.g. `ImageRepository default/app (context prod)`.
    pub target: String,
    /// A message about the target as a whole (e.g. no policy references it).
    pub notice: Option<String>,
    /// One section per policy.
    pub sections: Vec<PolicyDecisions>,
}

/// The decisions of one ImagePolicy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyDecisions {
    /// The context the policy lives in.
    pub context: String,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// The rule in words (`semver range '>=1.0.0 <2.0.0'`).
    pub rule: Option<String>,
    /// The tag filter in words.
    pub filter: Option<String>,
    /// The policy's Ready condition.
    pub ready: Option<ConditionSummary>,
    /// `status.latestRef`.
    pub latest: Option<ImageRef>,
    /// `status.observedPreviousRef`.
    pub previous: Option<ImageRef>,
    /// Why the policy's spec could not be read (the rest is still shown).
    pub error: Option<String>,
    /// The ImageRepository and its last scan.
    pub repository: RepositoryScan,
    /// Every tag's fate.
    pub tags: TagDecisions,
    /// The automations that may write this policy's decision to Git.
    pub automations: Vec<AutomationDecisions>,
    /// Why the automations could not be listed.
    pub automations_error: Option<String>,
    /// Workloads running the policy's image, in every context.
    pub running: Vec<RunningImage>,
    /// Contexts whose workloads could not be listed.
    pub running_errors: Vec<ContextError>,
}

/// An image reference (`status.latestRef` and friends).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageRef {
    /// Image name.
    pub name: String,
    /// Tag.
    pub tag: String,
    /// `sha256:…`, empty when unknown.
    pub digest: String,
}

impl ImageRef {
    /// `name:tag[@digest]`.
    pub fn image(&self) -> String {
        if self.digest.is_empty() {
            format!("{}:{}", self.name, self.tag)
        } else {
            format!("{}:{}@{}", self.name, self.tag, self.digest)
        }
    }
}

/// A condition reduced to what the view shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConditionSummary {
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// The reason.
    pub reason: String,
    /// The message.
    pub message: String,
}

impl ConditionSummary {
    /// The `Ready` condition of an object, if it has one.
    pub fn ready_of(obj: &serde_json::Value) -> Option<ConditionSummary> {
        let conditions = obj.pointer("/status/conditions")?.as_array()?;
        let ready = conditions
            .iter()
            .find(|c| c.get("type").and_then(|t| t.as_str()) == Some("Ready"))?;
        let text = |k: &str| {
            ready
                .get(k)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string()
        };
        Some(ConditionSummary {
            status: text("status"),
            reason: text("reason"),
            message: text("message"),
        })
    }
}

/// The ImageRepository a policy reads, and its last scan (`status.lastScanResult`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryScan {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// `spec.image`.
    pub image: Option<String>,
    /// `status.canonicalImageName`.
    pub canonical: Option<String>,
    /// `lastScanResult.tagCount`.
    pub tag_count: Option<u64>,
    /// `lastScanResult.scanTime`.
    pub scan_time: Option<String>,
    /// The Ready condition (its message says how the scan went).
    pub ready: Option<ConditionSummary>,
    /// Why the repository could not be read (e.g. it does not exist).
    pub error: Option<String>,
}

/// Every tag's fate under the policy, from a fresh registry listing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TagDecisions {
    /// Where the tags came from (`registry 127.0.0.1:5000/team/web`).
    pub source: Option<String>,
    /// When they were listed (RFC 3339).
    pub listed_at: Option<String>,
    /// Why they could not be listed (registry down, 401, …).
    pub error: Option<String>,
    /// How many tags the policy saw (after the exclusion list).
    pub total: usize,
    /// The tag the policy picks from this listing.
    pub chosen: Option<String>,
    /// Why the policy picks nothing.
    pub policy_error: Option<String>,
    /// The tags shown, in the repository's (descending) order.
    pub rows: Vec<TagRow>,
    /// Tags not shown, counted by fate.
    pub omitted: Vec<FateCount>,
}

/// One tag and its fate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TagRow {
    /// The tag.
    pub tag: String,
    /// The value fed to the policy when `filterTags.extract` changed it.
    pub extracted: Option<String>,
    /// Its fate.
    pub fate: TagFate,
    /// The parsed version, why parsing failed, or which tag superseded it.
    pub detail: Option<String>,
    /// It is the policy's previous tag (`status.observedPreviousRef`).
    pub previous: bool,
}

/// How many tags of one fate were left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FateCount {
    /// The fate.
    pub fate: TagFate,
    /// How many tags.
    pub count: usize,
}

/// An ImageUpdateAutomation that selects the policy, with the markers in its Git content.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AutomationDecisions {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its source, `GitRepository ns/name`.
    pub source: String,
    /// `spec.update.path`.
    pub update_path: String,
    /// `status.lastPushCommit`.
    pub last_push_commit: Option<String>,
    /// `status.lastPushTime`.
    pub last_push_time: Option<String>,
    /// `status.lastAutomationRunTime`.
    pub last_run_time: Option<String>,
    /// The Ready condition.
    pub ready: Option<ConditionSummary>,
    /// Where the scanned content came from (artifact revision and location).
    pub content: Option<String>,
    /// Why the content could not be read.
    pub content_error: Option<String>,
    /// Markers naming the policy, in file and line order.
    pub markers: Vec<MarkerRef>,
}

/// A setter marker naming the policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MarkerRef {
    /// Path relative to the repository root.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// The setter (`ns:name[:tag|:name|:digest]`).
    pub setter: String,
    /// The marked value now; `None` when the marker does not follow a scalar.
    pub value: Option<String>,
    /// The value the policy's latest ref gives this marker.
    pub expected: Option<String>,
}

impl MarkerRef {
    /// Whether the marked value is what the policy's latest ref gives (`None` when unknown).
    pub fn up_to_date(&self) -> Option<bool> {
        Some(self.value.as_ref()? == self.expected.as_ref()?)
    }
}

/// A container running the policy's image.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunningImage {
    /// The context.
    pub context: String,
    /// `Deployment`, `StatefulSet`, `DaemonSet` or `CronJob`.
    pub kind: String,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// The container (init containers are marked `(init)`).
    pub container: String,
    /// The image as written in the pod template.
    pub image: String,
    /// It runs the policy's latest tag.
    pub current: bool,
}

/// A context that could not be read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContextError {
    /// The context.
    pub context: String,
    /// What failed.
    pub message: String,
}

/// The tags to show and the counts of the rest: every tag when `keep_all` or when there are at most
/// [`SHOW_ALL_UP_TO`]; otherwise the chosen, candidate and previous tags only.
pub fn tag_rows(
    explanation: &Explanation,
    previous_tag: Option<&str>,
    keep_all: bool,
) -> (Vec<TagRow>, Vec<FateCount>) {
    let show_all = keep_all || explanation.tags.len() <= SHOW_ALL_UP_TO;
    let mut rows = Vec::new();
    let mut omitted: Vec<FateCount> = Vec::new();
    for verdict in &explanation.tags {
        let previous = previous_tag == Some(verdict.tag.as_str());
        let shown =
            show_all || previous || matches!(verdict.fate, TagFate::Chosen | TagFate::Candidate);
        if shown {
            rows.push(TagRow {
                tag: verdict.tag.clone(),
                extracted: verdict.extracted.clone(),
                fate: verdict.fate,
                detail: verdict.detail.clone(),
                previous,
            });
        } else if let Some(c) = omitted.iter_mut().find(|c| c.fate == verdict.fate) {
            c.count += 1;
        } else {
            omitted.push(FateCount {
                fate: verdict.fate,
                count: 1,
            });
        }
    }
    (rows, omitted)
}

/// The view's lines with what each means.
pub fn render_lines(d: &ImageDecisions) -> Vec<(Meaning, String)> {
    let mut out = Lines::default();
    out.push(
        Meaning::Heading,
        format!("Image decisions for {}", d.target),
    );
    if let Some(notice) = &d.notice {
        out.push(Meaning::Problem, notice.clone());
    }
    for section in &d.sections {
        out.blank();
        render_policy(&mut out, section);
    }
    out.0
}

/// The view as plain text (`flotilla images -o text`).
pub fn render_text(d: &ImageDecisions) -> String {
    let mut out = String::new();
    for (_, line) in render_lines(d) {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

#[derive(Default)]
struct Lines(Vec<(Meaning, String)>);

impl Lines {
    fn push(&mut self, meaning: Meaning, line: String) {
        self.0.push((meaning, line));
    }
    fn blank(&mut self) {
        self.0.push((Meaning::Plain, String::new()));
    }
    fn condition(&mut self, indent: &str, c: &Option<ConditionSummary>) {
        if let Some(c) = c {
            let meaning = match c.status.as_str() {
                "True" => Meaning::Confirmed,
                "False" => Meaning::Problem,
                _ => Meaning::Plain,
            };
            let mut line = format!("{indent}Ready: {}", c.status);
            if !c.reason.is_empty() {
                line.push_str(&format!(" ({})", c.reason));
            }
            if !c.message.is_empty() {
                line.push_str(&format!(" — {}", one_line(&c.message)));
            }
            self.push(meaning, line);
        }
    }
}

/// Messages can span lines; the view keeps one line per item.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn render_policy(out: &mut Lines, p: &PolicyDecisions) {
    out.push(
        Meaning::Heading,
        format!(
            "ImagePolicy {}/{} (context {})",
            p.namespace, p.name, p.context
        ),
    );
    if let Some(err) = &p.error {
        out.push(Meaning::Problem, format!("  error: {}", one_line(err)));
    }
    if let Some(rule) = &p.rule {
        out.push(Meaning::Plain, format!("  rule: {rule}"));
    }
    if let Some(filter) = &p.filter {
        out.push(Meaning::Plain, format!("  filter: {filter}"));
    }
    out.condition("  ", &p.ready);
    match &p.latest {
        Some(latest) => out.push(Meaning::Confirmed, format!("  latest: {}", latest.image())),
        None => out.push(Meaning::Problem, "  latest: none resolved yet".to_string()),
    }
    if let Some(prev) = &p.previous {
        out.push(Meaning::Plain, format!("  previous: {}", prev.image()));
    }

    out.blank();
    render_repository(out, &p.repository);
    out.blank();
    render_tags(out, &p.tags, p.previous.as_ref());
    out.blank();
    render_automations(out, p);
    out.blank();
    render_running(out, p);
}

fn render_repository(out: &mut Lines, r: &RepositoryScan) {
    out.push(
        Meaning::Heading,
        format!(
            "Repository scan — ImageRepository {}/{}",
            r.namespace, r.name
        ),
    );
    if let Some(err) = &r.error {
        out.push(Meaning::Problem, format!("  error: {}", one_line(err)));
    }
    if let Some(image) = &r.image {
        let mut line = format!("  image: {image}");
        if let Some(canonical) = r.canonical.as_ref().filter(|c| *c != image) {
            line.push_str(&format!(" ({canonical})"));
        }
        out.push(Meaning::Plain, line);
    }
    match (&r.tag_count, &r.scan_time) {
        (Some(count), Some(time)) => out.push(
            Meaning::Plain,
            format!("  last scan: {count} tags at {time}"),
        ),
        (Some(count), None) => out.push(Meaning::Plain, format!("  last scan: {count} tags")),
        (None, Some(time)) => out.push(Meaning::Plain, format!("  last scan: at {time}")),
        (None, None) if r.error.is_none() => {
            out.push(Meaning::Problem, "  last scan: not scanned yet".to_string())
        }
        (None, None) => {}
    }
    out.condition("  ", &r.ready);
}

fn render_tags(out: &mut Lines, t: &TagDecisions, previous: Option<&ImageRef>) {
    let mut heading = String::from("Tags");
    if let Some(source) = &t.source {
        heading.push_str(&format!(" — listed from {source}"));
        if let Some(at) = &t.listed_at {
            heading.push_str(&format!(" at {at}"));
        }
    }
    out.push(Meaning::Heading, heading);
    if let Some(err) = &t.error {
        out.push(
            Meaning::Problem,
            format!("  cannot list tags: {}", one_line(err)),
        );
    }
    if t.error.is_none() || t.total > 0 {
        out.push(
            Meaning::Plain,
            format!(
                "  {} tag{} seen by the policy",
                t.total,
                if t.total == 1 { "" } else { "s" }
            ),
        );
    }
    if !t.rows.is_empty() {
        let tag_width = t
            .rows
            .iter()
            .map(|r| r.tag.chars().count())
            .max()
            .unwrap_or(0)
            .max(3);
        let value_width = t
            .rows
            .iter()
            .filter_map(|r| r.extracted.as_ref().map(|e| e.chars().count()))
            .max()
            .map(|w| w.max(9));
        let fate_width = 24;
        let header = match value_width {
            Some(w) => format!(
                "  {:tag_width$}  {:w$}  {:fate_width$}  DETAIL",
                "TAG", "EXTRACTED", "FATE"
            ),
            None => format!("  {:tag_width$}  {:fate_width$}  DETAIL", "TAG", "FATE"),
        };
        out.push(Meaning::Plain, header);
        for row in &t.rows {
            let mut fate = row.fate.to_string();
            if row.previous {
                fate.push_str(", previous");
            }
            let detail = row.detail.as_deref().unwrap_or("");
            let line = match value_width {
                Some(w) => format!(
                    "  {:tag_width$}  {:w$}  {:fate_width$}  {detail}",
                    row.tag,
                    row.extracted.as_deref().unwrap_or("-"),
                    fate
                ),
                None => format!("  {:tag_width$}  {:fate_width$}  {detail}", row.tag, fate),
            };
            let meaning = match row.fate {
                TagFate::Chosen => Meaning::Confirmed,
                TagFate::Candidate => Meaning::Plain,
                _ if row.previous => Meaning::Plain,
                _ => Meaning::Minor,
            };
            out.push(meaning, line.trim_end().to_string());
        }
    }
    if !t.omitted.is_empty() {
        let parts: Vec<String> = t
            .omitted
            .iter()
            .map(|c| format!("{} {}", c.count, c.fate))
            .collect();
        out.push(
            Meaning::Minor,
            format!("  … and {} not listed (--all lists them)", parts.join(", ")),
        );
    }
    if let Some(prev) = previous
        && t.error.is_none()
        && !t.rows.iter().any(|r| r.previous)
    {
        out.push(
            Meaning::Minor,
            format!(
                "  previous tag {} is not in the registry any more",
                prev.tag
            ),
        );
    }
    match (&t.chosen, &t.policy_error) {
        (Some(tag), _) => out.push(Meaning::Confirmed, format!("  chosen: {tag}")),
        (None, Some(err)) => out.push(
            Meaning::Problem,
            format!("  no tag chosen: {}", one_line(err)),
        ),
        (None, None) => {}
    }
}

fn render_automations(out: &mut Lines, p: &PolicyDecisions) {
    out.push(Meaning::Heading, "Git markers and automation".to_string());
    if let Some(err) = &p.automations_error {
        out.push(
            Meaning::Problem,
            format!("  cannot list ImageUpdateAutomations: {}", one_line(err)),
        );
    } else if p.automations.is_empty() {
        out.push(
            Meaning::Minor,
            format!(
                "  no ImageUpdateAutomation in namespace {} selects this policy",
                p.namespace
            ),
        );
    }
    for a in &p.automations {
        out.push(
            Meaning::Plain,
            format!(
                "  ImageUpdateAutomation {}/{} — {}, path {}",
                a.namespace,
                a.name,
                a.source,
                if a.update_path.is_empty() {
                    "."
                } else {
                    &a.update_path
                }
            ),
        );
        if let Some(content) = &a.content {
            out.push(Meaning::Plain, format!("    content: {content}"));
        }
        if let Some(err) = &a.content_error {
            out.push(
                Meaning::Problem,
                format!("    cannot read the Git content: {}", one_line(err)),
            );
        } else if a.markers.is_empty() && a.content.is_some() {
            out.push(
                Meaning::Problem,
                format!("    no marker names {}:{}", p.namespace, p.name),
            );
        }
        for m in &a.markers {
            let value = m.value.as_deref().unwrap_or("(not on a scalar value)");
            let (meaning, verdict) = match (m.up_to_date(), &m.expected) {
                (Some(true), _) => (Meaning::Confirmed, "= latest".to_string()),
                (Some(false), Some(expected)) => (Meaning::Problem, format!("≠ latest {expected}")),
                _ => (Meaning::Plain, String::new()),
            };
            let line = format!(
                "    {}:{}  {}  {value}  {verdict}",
                m.file, m.line, m.setter
            );
            out.push(meaning, line.trim_end().to_string());
        }
        let mut push = String::from("    last push: ");
        match (&a.last_push_commit, &a.last_push_time) {
            (Some(commit), Some(time)) => push.push_str(&format!("{commit} at {time}")),
            (Some(commit), None) => push.push_str(commit),
            (None, _) => push.push_str("none yet"),
        }
        out.push(Meaning::Plain, push);
        if let Some(run) = &a.last_run_time {
            out.push(Meaning::Plain, format!("    last run: {run}"));
        }
        out.condition("    ", &a.ready);
    }
}

fn render_running(out: &mut Lines, p: &PolicyDecisions) {
    out.push(Meaning::Heading, "Running".to_string());
    if p.running.is_empty() && p.running_errors.is_empty() {
        out.push(
            Meaning::Minor,
            "  no Deployment, StatefulSet, DaemonSet or CronJob runs this image".to_string(),
        );
    }
    let latest_tag = p.latest.as_ref().map(|l| l.tag.as_str());
    for r in &p.running {
        let verdict = match (r.current, latest_tag) {
            (true, _) => "latest".to_string(),
            (false, Some(tag)) => format!("not {tag}"),
            (false, None) => "no decision yet".to_string(),
        };
        out.push(
            if r.current {
                Meaning::Confirmed
            } else {
                Meaning::Problem
            },
            format!(
                "  {}  {} {}/{}  {}  {}  ({verdict})",
                r.context, r.kind, r.namespace, r.name, r.container, r.image
            ),
        );
    }
    for e in &p.running_errors {
        out.push(
            Meaning::Problem,
            format!("  {}  error: {}", e.context, one_line(&e.message)),
        );
    }
}

#[cfg(test)]
mod tests;
