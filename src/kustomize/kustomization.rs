//! The kustomization file, decoded strictly (unknown fields and wrong types are errors) like
//! kustomize's `json.Decoder.DisallowUnknownFields`, or loosely for Flux's root file.

use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A decoding problem; the caller adds the file name.
pub type DecodeResult<T> = Result<T, String>;

/// Whether a kustomization is a `Kustomization` or a `Component`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KustKind {
    /// `kind: Kustomization` (or no kind).
    #[default]
    Kustomization,
    /// `kind: Component`.
    Component,
}

/// A field spec: where in which kinds a transformer writes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSpec {
    /// API group ("" = any).
    pub group: String,
    /// API version ("" = any).
    pub version: String,
    /// Kind ("" = any).
    pub kind: String,
    /// Slash-separated path, `[]` marks lists (`spec/template/metadata/labels`).
    pub path: String,
    /// Create missing fields.
    pub create: bool,
}

/// A resource selector (`patches[].target`, replacement `select`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selector {
    /// Group regex.
    pub group: String,
    /// Version regex.
    pub version: String,
    /// Kind regex.
    pub kind: String,
    /// Name regex.
    pub name: String,
    /// Namespace regex.
    pub namespace: String,
    /// Kubernetes label selector.
    pub label_selector: String,
    /// Kubernetes annotation selector.
    pub annotation_selector: String,
}

/// One `patches` entry.
#[derive(Debug, Clone, Default)]
pub struct PatchEntry {
    /// File path.
    pub path: String,
    /// Inline patch text.
    pub patch: String,
    /// Target selector.
    pub target: Option<Selector>,
    /// `options.allowNameChange`.
    pub allow_name_change: bool,
    /// `options.allowKindChange`.
    pub allow_kind_change: bool,
}

/// One `labels` entry.
#[derive(Debug, Clone, Default)]
pub struct LabelEntry {
    /// The labels.
    pub pairs: BTreeMap<String, String>,
    /// Also selectors.
    pub include_selectors: bool,
    /// Also pod templates.
    pub include_templates: bool,
    /// Extra field specs.
    pub fields: Vec<FieldSpec>,
}

/// One `images` entry.
#[derive(Debug, Clone, Default)]
pub struct ImageEntry {
    /// Image name to match.
    pub name: String,
    /// Replacement name.
    pub new_name: String,
    /// Replacement tag.
    pub new_tag: String,
    /// Replacement digest.
    pub digest: String,
}

/// One `replicas` entry.
#[derive(Debug, Clone, Default)]
pub struct ReplicaEntry {
    /// Workload name.
    pub name: String,
    /// Replica count.
    pub count: i64,
}

/// Generator options (`generatorOptions` or per-generator `options`).
#[derive(Debug, Clone, Default)]
pub struct GeneratorOptions {
    /// Labels for generated objects.
    pub labels: BTreeMap<String, String>,
    /// Annotations for generated objects.
    pub annotations: BTreeMap<String, String>,
    /// No hash suffix.
    pub disable_name_suffix_hash: bool,
    /// `immutable: true`.
    pub immutable: bool,
}

/// A `configMapGenerator` or `secretGenerator` entry.
#[derive(Debug, Clone, Default)]
pub struct GeneratorEntry {
    /// Object name.
    pub name: String,
    /// Object namespace.
    pub namespace: String,
    /// create / merge / replace ("" = create).
    pub behavior: String,
    /// `key=value` literals.
    pub literals: Vec<String>,
    /// Files (`path` or `key=path`).
    pub files: Vec<String>,
    /// Env files.
    pub envs: Vec<String>,
    /// Secret type.
    pub secret_type: String,
    /// Local options.
    pub options: Option<GeneratorOptions>,
}

/// `patchesJson6902` entry.
#[derive(Debug, Clone, Default)]
pub struct Json6902Entry {
    /// Target.
    pub target: Option<Selector>,
    /// File path.
    pub path: String,
    /// Inline patch.
    pub patch: String,
}

/// `sortOptions`.
#[derive(Debug, Clone, Default)]
pub struct SortOptions {
    /// `legacy` or `fifo`.
    pub order: String,
    /// Custom first kinds.
    pub order_first: Option<Vec<String>>,
    /// Custom last kinds.
    pub order_last: Option<Vec<String>>,
}

/// A decoded kustomization.
#[derive(Debug, Clone, Default)]
pub struct Kustomization {
    /// Kustomization or Component.
    pub kind: KustKind,
    /// Resources then bases.
    pub resources: Vec<String>,
    /// Components.
    pub components: Vec<String>,
    /// Namespace.
    pub namespace: String,
    /// Name prefix.
    pub name_prefix: String,
    /// Name suffix.
    pub name_suffix: String,
    /// commonLabels.
    pub common_labels: BTreeMap<String, String>,
    /// labels.
    pub labels: Vec<LabelEntry>,
    /// commonAnnotations.
    pub common_annotations: BTreeMap<String, String>,
    /// patchesStrategicMerge entries (paths or inline).
    pub patches_strategic_merge: Vec<String>,
    /// patches.
    pub patches: Vec<PatchEntry>,
    /// patchesJson6902.
    pub patches_json6902: Vec<Json6902Entry>,
    /// images (+ imageTags).
    pub images: Vec<ImageEntry>,
    /// replicas.
    pub replicas: Vec<ReplicaEntry>,
    /// replacements (raw; `path` entries or inline).
    pub replacements: Vec<Value>,
    /// vars (raw).
    pub vars: Vec<Value>,
    /// configMapGenerator.
    pub config_map_generator: Vec<GeneratorEntry>,
    /// secretGenerator.
    pub secret_generator: Vec<GeneratorEntry>,
    /// generatorOptions.
    pub generator_options: Option<GeneratorOptions>,
    /// configurations files.
    pub configurations: Vec<String>,
    /// sortOptions.
    pub sort_options: Option<SortOptions>,
    /// transformers (paths or inline configs).
    pub transformers: Vec<String>,
    /// generators (paths or inline configs).
    pub generators: Vec<String>,
    /// Deprecated fields in use (for warnings).
    pub deprecated: Vec<&'static str>,
    /// Non-empty unsupported fields (helmCharts, …).
    pub unsupported: Vec<&'static str>,
    /// buildMetadata.
    pub build_metadata: Vec<String>,
}

const KNOWN_FIELDS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "openapi",
    "namePrefix",
    "nameSuffix",
    "namespace",
    "commonLabels",
    "labels",
    "commonAnnotations",
    "patchesStrategicMerge",
    "patchesJson6902",
    "patches",
    "images",
    "imageTags",
    "replacements",
    "replicas",
    "vars",
    "sortOptions",
    "resources",
    "components",
    "crds",
    "bases",
    "configMapGenerator",
    "secretGenerator",
    "helmGlobals",
    "helmCharts",
    "helmChartInflationGenerator",
    "generatorOptions",
    "configurations",
    "generators",
    "transformers",
    "validators",
    "buildMetadata",
];

struct Fields<'a> {
    map: &'a Map<String, Value>,
    ctx: &'static str,
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn mismatch(v: &Value, ctx: &str, field: &str, want: &str) -> String {
    format!(
        "json: cannot unmarshal {} into Go struct field {ctx}.{field} of type {want}",
        type_name(v)
    )
}

impl<'a> Fields<'a> {
    fn new(v: &'a Value, ctx: &'static str, known: &[&str], strict: bool) -> DecodeResult<Self> {
        let Value::Object(map) = v else {
            return Err(format!(
                "json: cannot unmarshal {} into Go value of type {ctx}",
                type_name(v)
            ));
        };
        if strict {
            for k in map.keys() {
                if !known.contains(&k.as_str()) {
                    return Err(format!("json: unknown field \"{k}\""));
                }
            }
        }
        Ok(Fields { map, ctx })
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn string(&self, key: &str) -> DecodeResult<String> {
        match self.get(key) {
            None => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(v) => Err(mismatch(v, self.ctx, key, "string")),
        }
    }

    fn boolean(&self, key: &str) -> DecodeResult<bool> {
        match self.get(key) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(mismatch(v, self.ctx, key, "bool")),
        }
    }

    fn strings(&self, key: &str) -> DecodeResult<Vec<String>> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| match i {
                    Value::String(s) => Ok(s.clone()),
                    v => Err(mismatch(v, self.ctx, key, "string")),
                })
                .collect(),
            Some(v) => Err(mismatch(v, self.ctx, key, "[]string")),
        }
    }

    fn string_map(&self, key: &str) -> DecodeResult<BTreeMap<String, String>> {
        match self.get(key) {
            None => Ok(BTreeMap::new()),
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    v => Err(mismatch(v, self.ctx, key, "string")),
                })
                .collect(),
            Some(v) => Err(mismatch(v, self.ctx, key, "map[string]string")),
        }
    }

    fn list(&self, key: &str) -> DecodeResult<&'a [Value]> {
        match self.get(key) {
            None => Ok(&[]),
            Some(Value::Array(items)) => Ok(items),
            Some(v) => Err(mismatch(v, self.ctx, key, "array")),
        }
    }
}

fn selector(v: &Value) -> DecodeResult<Selector> {
    let f = Fields::new(
        v,
        "Selector",
        &[
            "group",
            "version",
            "kind",
            "name",
            "namespace",
            "labelSelector",
            "annotationSelector",
        ],
        true,
    )?;
    Ok(Selector {
        group: f.string("group")?,
        version: f.string("version")?,
        kind: f.string("kind")?,
        name: f.string("name")?,
        namespace: f.string("namespace")?,
        label_selector: f.string("labelSelector")?,
        annotation_selector: f.string("annotationSelector")?,
    })
}

/// Decodes a field spec (also used by `configurations:` files).
pub fn field_spec(v: &Value) -> DecodeResult<FieldSpec> {
    let f = Fields::new(
        v,
        "FieldSpec",
        &["group", "version", "kind", "path", "create", "behavior"],
        true,
    )?;
    Ok(FieldSpec {
        group: f.string("group")?,
        version: f.string("version")?,
        kind: f.string("kind")?,
        path: f.string("path")?,
        create: f.boolean("create")?,
    })
}

fn generator_options(v: &Value) -> DecodeResult<GeneratorOptions> {
    let f = Fields::new(
        v,
        "GeneratorOptions",
        &[
            "labels",
            "annotations",
            "disableNameSuffixHash",
            "immutable",
        ],
        true,
    )?;
    Ok(GeneratorOptions {
        labels: f.string_map("labels")?,
        annotations: f.string_map("annotations")?,
        disable_name_suffix_hash: f.boolean("disableNameSuffixHash")?,
        immutable: f.boolean("immutable")?,
    })
}

fn generator(v: &Value, secret: bool) -> DecodeResult<GeneratorEntry> {
    let mut known = vec![
        "name",
        "namespace",
        "behavior",
        "literals",
        "files",
        "envs",
        "env",
        "options",
        "kvSources",
    ];
    if secret {
        known.push("type");
    }
    let f = Fields::new(v, "GeneratorArgs", &known, true)?;
    let mut envs = f.strings("envs")?;
    let env = f.string("env")?;
    if !env.is_empty() {
        envs.insert(0, env);
    }
    let behavior = f.string("behavior")?;
    // kustomize reads any other value as "unspecified", which acts like create.
    Ok(GeneratorEntry {
        name: f.string("name")?,
        namespace: f.string("namespace")?,
        behavior,
        literals: f.strings("literals")?,
        files: f.strings("files")?,
        envs,
        secret_type: if secret {
            f.string("type")?
        } else {
            String::new()
        },
        options: f.get("options").map(generator_options).transpose()?,
    })
}

/// Deprecated fields in the order kustomize warns about them.
const DEPRECATED_FIELDS: [&str; 6] = [
    "bases",
    "commonLabels",
    "imageTags",
    "patchesJson6902",
    "patchesStrategicMerge",
    "vars",
];

/// kustomize's stderr warning for a deprecated field (`api/types/kustomization.go`).
pub fn deprecation_warning(field: &str) -> String {
    let (instead, fix) = match field {
        "bases" => ("resources", ""),
        "commonLabels" => ("labels", ""),
        "imageTags" => ("images", ""),
        "vars" => ("replacements", "[EXPERIMENTAL] "),
        _ => ("patches", ""),
    };
    format!(
        "# Warning: '{field}' is deprecated. Please use '{instead}' instead. {fix}Run 'kustomize edit fix' to update your Kustomization automatically."
    )
}

impl Kustomization {
    /// Decodes a kustomization document. `strict` = unknown fields are errors.
    pub fn decode(v: &Value, strict: bool) -> DecodeResult<Kustomization> {
        if let Value::Object(m) = v
            && m.keys().all(|k| k == "apiVersion" || k == "kind")
        {
            return Err("kustomization.yaml is empty".into());
        }
        let f = Fields::new(v, "Kustomization", KNOWN_FIELDS, strict)?;
        let mut k = Kustomization::default();
        let api_version = f.string("apiVersion")?;
        let kind = f.string("kind")?;
        k.kind = match kind.as_str() {
            "" | "Kustomization" => KustKind::Kustomization,
            "Component" => KustKind::Component,
            other => {
                return Err(format!(
                    "kind should be Kustomization or Component, got {other:?}"
                ));
            }
        };
        match (k.kind, api_version.as_str()) {
            (_, "") | (KustKind::Kustomization, "kustomize.config.k8s.io/v1beta1") => {}
            (KustKind::Component, "kustomize.config.k8s.io/v1alpha1") => {}
            (_, other) => {
                return Err(format!(
                    "apiVersion {other:?} is not valid for kind {kind:?}"
                ));
            }
        }
        k.resources = f.strings("resources")?;
        let bases = f.strings("bases")?;
        k.resources.extend(bases);
        k.components = f.strings("components")?;
        k.namespace = f.string("namespace")?;
        k.name_prefix = f.string("namePrefix")?;
        k.name_suffix = f.string("nameSuffix")?;
        k.common_labels = f.string_map("commonLabels")?;
        for item in f.list("labels")? {
            let lf = Fields::new(
                item,
                "Label",
                &["pairs", "includeSelectors", "includeTemplates", "fields"],
                true,
            )?;
            let fields = lf
                .list("fields")?
                .iter()
                .map(field_spec)
                .collect::<DecodeResult<_>>()?;
            k.labels.push(LabelEntry {
                pairs: lf.string_map("pairs")?,
                include_selectors: lf.boolean("includeSelectors")?,
                include_templates: lf.boolean("includeTemplates")?,
                fields,
            });
        }
        k.common_annotations = f.string_map("commonAnnotations")?;
        k.patches_strategic_merge = f.strings("patchesStrategicMerge")?;
        for item in f.list("patches")? {
            let pf = Fields::new(item, "Patch", &["path", "patch", "target", "options"], true)?;
            let (mut allow_name_change, mut allow_kind_change) = (false, false);
            if let Some(opts) = pf.get("options") {
                let of = Fields::new(
                    opts,
                    "Patch.options",
                    &["allowNameChange", "allowKindChange"],
                    true,
                )?;
                allow_name_change = of.boolean("allowNameChange")?;
                allow_kind_change = of.boolean("allowKindChange")?;
            }
            k.patches.push(PatchEntry {
                path: pf.string("path")?,
                patch: pf.string("patch")?,
                target: pf.get("target").map(selector).transpose()?,
                allow_name_change,
                allow_kind_change,
            });
        }
        for item in f.list("patchesJson6902")? {
            let pf = Fields::new(item, "Patch", &["path", "patch", "target", "options"], true)?;
            k.patches_json6902.push(Json6902Entry {
                target: pf.get("target").map(selector).transpose()?,
                path: pf.string("path")?,
                patch: pf.string("patch")?,
            });
        }
        for key in ["images", "imageTags"] {
            for item in f.list(key)? {
                let imf = Fields::new(
                    item,
                    "Image",
                    &["name", "newName", "newTag", "digest", "tagSuffix"],
                    true,
                )?;
                if imf.get("tagSuffix").is_some() {
                    k.unsupported.push("images[].tagSuffix");
                }
                k.images.push(ImageEntry {
                    name: imf.string("name")?,
                    new_name: imf.string("newName")?,
                    new_tag: imf.string("newTag")?,
                    digest: imf.string("digest")?,
                });
            }
        }
        for item in f.list("replicas")? {
            let rf = Fields::new(item, "Replica", &["name", "count"], true)?;
            let count = match rf.get("count") {
                None => 0,
                Some(Value::Number(n)) => n.as_i64().ok_or_else(|| {
                    mismatch(&Value::Number(n.clone()), "Replica", "count", "int64")
                })?,
                Some(v) => return Err(mismatch(v, "Replica", "count", "int64")),
            };
            k.replicas.push(ReplicaEntry {
                name: rf.string("name")?,
                count,
            });
        }
        k.replacements = f.list("replacements")?.to_vec();
        k.vars = f.list("vars")?.to_vec();
        for (key, secret) in [("configMapGenerator", false), ("secretGenerator", true)] {
            for item in f.list(key)? {
                let g = generator(item, secret)?;
                if secret {
                    k.secret_generator.push(g);
                } else {
                    k.config_map_generator.push(g);
                }
            }
        }
        k.generator_options = f
            .get("generatorOptions")
            .map(generator_options)
            .transpose()?;
        k.configurations = f.strings("configurations")?;
        if let Some(so) = f.get("sortOptions") {
            let sf = Fields::new(so, "SortOptions", &["order", "legacySortOptions"], true)?;
            let mut opts = SortOptions {
                order: sf.string("order")?,
                ..Default::default()
            };
            if let Some(l) = sf.get("legacySortOptions") {
                let lf = Fields::new(l, "LegacySortOptions", &["orderFirst", "orderLast"], true)?;
                opts.order_first = lf
                    .get("orderFirst")
                    .map(|_| lf.strings("orderFirst"))
                    .transpose()?;
                opts.order_last = lf
                    .get("orderLast")
                    .map(|_| lf.strings("orderLast"))
                    .transpose()?;
            }
            if !matches!(opts.order.as_str(), "legacy" | "fifo") {
                return Err(format!(
                    "the field 'sortOptions.order' must be one of [legacy, fifo], got {:?}",
                    opts.order
                ));
            }
            k.sort_options = Some(opts);
        }
        k.transformers = raw_entries(&f, "transformers")?;
        k.generators = raw_entries(&f, "generators")?;
        k.build_metadata = f.strings("buildMetadata")?;
        for key in ["helmCharts", "helmGlobals", "helmChartInflationGenerator"] {
            if f.get(key)
                .is_some_and(|v| !matches!(v, Value::Array(a) if a.is_empty()))
            {
                k.unsupported.push(match key {
                    "helmCharts" => "helmCharts",
                    "helmGlobals" => "helmGlobals",
                    _ => "helmChartInflationGenerator",
                });
            }
        }
        for key in ["crds", "validators"] {
            if !f.list(key)?.is_empty() {
                k.unsupported
                    .push(if key == "crds" { "crds" } else { "validators" });
            }
        }
        if f.get("openapi").is_some() {
            k.unsupported.push("openapi");
        }
        // kustomize warns for every deprecated field present and not null, even when empty, in
        // this order (`CheckDeprecatedFields`).
        for key in DEPRECATED_FIELDS {
            if f.get(key).is_some_and(|v| !v.is_null()) {
                k.deprecated.push(key);
            }
        }
        Ok(k)
    }
}

/// `transformers:`/`generators:` entries: strings (paths or inline YAML).
fn raw_entries(f: &Fields<'_>, key: &str) -> DecodeResult<Vec<String>> {
    f.strings(key)
}
