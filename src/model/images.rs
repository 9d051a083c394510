//! The image decisions view (`i` in the console, `flotilla images`): an ImagePolicy's scan, every tag's
//! fate, the Git markers that reference the policy, the automation's last push and the image running in
//! each cluster. Pure: gathered by `cluster::images`, rendered here.

/// How a rendered line should look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Ordinary text.
    Normal,
    /// A section heading.
    Heading,
    /// Good news (the chosen tag, a running image that matches).
    Good,
    /// Bad news (an error, an image that differs from the decision).
    Bad,
    /// Less important (filtered-out tags).
    Dim,
}

/// Everything the view shows (filled in by `cluster::images::image_decisions`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImageDecisions {
    /// The policy the decisions are about, `namespace/name`.
    pub policy: String,
}

/// The view's lines with their tones.
pub fn render_lines(d: &ImageDecisions) -> Vec<(Tone, String)> {
    vec![(Tone::Heading, format!("ImagePolicy {}", d.policy))]
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
