use super::*;

#[test]
fn selectors_convert_and_reject_bad_operators() {
    assert_eq!(label_selector_string(&Value::Null).expect("null"), "");
    assert_eq!(
        label_selector_string(&json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["a", "b"]},
                {"key": "env", "operator": "NotIn", "values": ["prod"]},
                {"key": "x", "operator": "Exists"},
                {"key": "y", "operator": "DoesNotExist"}
            ]
        }))
        .expect("valid"),
        "app=web,tier in (a,b),env notin (prod),x,!y"
    );
    for bad in [
        json!({"matchExpressions": [{"key": "a", "operator": "Near"}]}),
        json!({"matchExpressions": [{"key": "a", "operator": "In"}]}),
        json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}),
        json!({"matchLabels": {"a b": "c"}}),
        json!({"matchLabels": {"a": 1}}),
        json!({"matchLabels": "a=b"}),
        json!([1]),
    ] {
        assert!(label_selector_string(&bad).is_err(), "{bad}");
    }
}

/// A bare repository made with gix only, `main` holding `deploy/app.yaml` with a marker.
fn bare_remote(dir: &Path) -> (gix::Repository, gix::ObjectId) {
    let repo = gix::init_bare(dir.join("remote.git")).expect("init");
    let app = "image: registry.local/app:1.0.0 # {\"$imagepolicy\": \"default:app\"}\n";
    let id = commit_file(&repo, None, "deploy/app.yaml", app, "initial");
    (repo, id)
}

/// Commits `path` = `text` on top of `parent` and moves `main` there (no git CLI).
fn commit_file(
    repo: &gix::Repository,
    parent: Option<gix::ObjectId>,
    path: &str,
    text: &str,
    message: &str,
) -> gix::ObjectId {
    use crate::controllers::source::git_local::{Expected, update_ref};
    let base = match parent {
        Some(p) => repo
            .find_commit(p)
            .expect("parent")
            .tree_id()
            .expect("tree")
            .detach(),
        None => {
            repo.write_object(gix::objs::Tree::empty()).expect("tree");
            gix::ObjectId::empty_tree(repo.object_hash())
        }
    };
    let mut editor = repo.edit_tree(base).expect("editor");
    let blob = repo.write_blob(text.as_bytes()).expect("blob");
    editor
        .upsert(path, gix::object::tree::EntryKind::Blob, blob.detach())
        .expect("upsert");
    let tree = editor.write().expect("write tree").detach();
    let time = gix::date::Time::new(1_700_000_000, 0);
    let mut buf = gix::date::parse::TimeBuf::default();
    let sig = gix::actor::SignatureRef {
        name: "Someone".into(),
        email: "someone@example.com".into(),
        time: time.to_str(&mut buf),
    };
    let id = repo
        .new_commit_as(sig, sig, message, tree, parent)
        .expect("commit")
        .id;
    let expected = parent.map_or(Expected::Absent, Expected::Value);
    update_ref(repo, "refs/heads/main", id, expected, sig).expect("move main");
    id
}

fn local_plan(url: &str) -> GitPlan {
    GitPlan {
        url: url.to_string(),
        auth: None,
        timeout: Duration::from_secs(30),
        checkout: GitRef::branch("main"),
        checkout_branch: Some("main".to_string()),
        push_branch: "main".to_string(),
        refspec: None,
        push_options: Vec::new(),
        update_path: "deploy".to_string(),
        author_name: "Flux Bot".to_string(),
        author_email: "flux@example.com".to_string(),
    }
}

fn main_of(repo: &gix::Repository) -> gix::ObjectId {
    repo.find_reference("refs/heads/main")
        .expect("main")
        .into_fully_peeled_id()
        .expect("id")
        .detach()
}

/// A file:// push moves the branch only from the commit the checkout saw: a branch moved by
/// someone else in between is a rejected push (the caller retries on a fresh fetch), never
/// overwritten; the retry builds on the moved head and keeps the other commit.
#[test]
fn file_pushes_reject_a_moved_branch_and_the_redo_builds_on_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (remote, initial) = bare_remote(dir.path());
    let url = format!("file://{}", dir.path().join("remote.git").display());
    let plan = local_plan(&url);
    let work = dir.path().join("work");
    let mut refs = PolicyRefs::new();
    refs.insert(
        "default:app".to_string(),
        super::super::setters::LatestRef {
            name: "registry.local/app".to_string(),
            tag: "1.0.1".to_string(),
            digest: String::new(),
        },
    );
    let now = Timestamp::from_second(1_700_000_100).expect("time");
    // Someone pushes while the automation is between its checkout and its push.
    let mut concurrent = None;
    let first = update_once(&plan, &work, &refs, now, |_| {
        concurrent = Some(commit_file(
            &remote,
            Some(initial),
            "deploy/other.yaml",
            "kind: ConfigMap\n",
            "concurrent change",
        ));
        Ok("automation".to_string())
    });
    let concurrent = concurrent.expect("render ran");
    match first {
        Err(UpdateFailure::PushRejected(m)) => {
            assert!(m.contains(&url) && m.contains("refs/heads/main"), "{m}")
        }
        Err(UpdateFailure::Other(e)) => panic!("not a rejection: {e}"),
        Ok(_) => panic!("a push over a moved branch went through"),
    }
    assert_eq!(main_of(&remote), concurrent, "the other push is not lost");
    // The redo (what `run` does on a rejection) starts from the moved head.
    let (applied, message) =
        update_once(&plan, &work, &refs, now, |_| Ok("automation".to_string()))
            .unwrap_or_else(|_| panic!("the redo pushes"));
    assert_eq!(message, "automation");
    let (pushed, branch) = applied.pushed.expect("pushed");
    assert_eq!(branch, "main");
    let head = main_of(&remote);
    assert_eq!(head.to_string(), pushed);
    assert_eq!(applied.revision, format!("main@sha1:{pushed}"));
    let commit = remote.find_commit(head).expect("commit");
    let parents: Vec<gix::ObjectId> = commit.parent_ids().map(|p| p.detach()).collect();
    assert_eq!(parents, [concurrent]);
    let tree = commit.tree().expect("tree");
    let read = |path: &str| {
        let entry = tree
            .lookup_entry_by_path(path)
            .expect("lookup")
            .unwrap_or_else(|| panic!("{path} in the pushed tree"));
        String::from_utf8(entry.object().expect("blob").data.clone()).expect("utf8")
    };
    assert!(read("deploy/app.yaml").contains("registry.local/app:1.0.1 #"));
    assert_eq!(read("deploy/other.yaml"), "kind: ConfigMap\n");
    // Nothing left to change: no commit, the branch stays.
    let (again, _) = update_once(&plan, &work, &refs, now, |_| Ok(String::new()))
        .unwrap_or_else(|_| panic!("no-op run"));
    assert!(again.pushed.is_none());
    assert_eq!(main_of(&remote), head);
}

/// A new push branch is created from the checkout ref; if it appears in the meantime, the
/// push is rejected rather than forced. A refspec pushes the branch on, fast-forward only.
#[test]
fn file_pushes_create_branches_and_follow_refspecs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (remote, initial) = bare_remote(dir.path());
    let url = format!("file://{}", dir.path().join("remote.git").display());
    let mut plan = local_plan(&url);
    plan.push_branch = "auto".to_string();
    plan.refspec = Some("refs/heads/auto:refs/heads/release".to_string());
    let work = dir.path().join("work");
    let mut refs = PolicyRefs::new();
    refs.insert(
        "default:app".to_string(),
        super::super::setters::LatestRef {
            name: "registry.local/app".to_string(),
            tag: "2.0.0".to_string(),
            digest: String::new(),
        },
    );
    let now = Timestamp::from_second(1_700_000_100).expect("time");
    let (applied, _) = update_once(&plan, &work, &refs, now, |_| Ok("bump".to_string()))
        .unwrap_or_else(|_| panic!("pushes a new branch"));
    let (pushed, branch) = applied.pushed.expect("pushed");
    assert_eq!(branch, "auto");
    let id = |name: &str| {
        remote
            .find_reference(name)
            .expect(name)
            .into_fully_peeled_id()
            .expect("id")
            .detach()
            .to_string()
    };
    assert_eq!(id("refs/heads/auto"), pushed);
    assert_eq!(id("refs/heads/release"), pushed);
    assert_eq!(
        main_of(&remote),
        initial,
        "the checkout branch is untouched"
    );

    // `auto` appears while a run that saw no `auto` is working: rejected.
    let dir2 = tempfile::tempdir().expect("tempdir");
    let (remote2, initial2) = bare_remote(dir2.path());
    let url2 = format!("file://{}", dir2.path().join("remote.git").display());
    let mut plan2 = local_plan(&url2);
    plan2.push_branch = "auto".to_string();
    let result = update_once(&plan2, &dir2.path().join("work"), &refs, now, |_| {
        use crate::controllers::source::git_local::{Expected, update_ref};
        let time = gix::date::Time::new(1_700_000_000, 0);
        let mut buf = gix::date::parse::TimeBuf::default();
        let sig = gix::actor::SignatureRef {
            name: "Someone".into(),
            email: "someone@example.com".into(),
            time: time.to_str(&mut buf),
        };
        update_ref(&remote2, "refs/heads/auto", initial2, Expected::Absent, sig)
            .expect("someone creates auto");
        Ok("bump".to_string())
    });
    assert!(matches!(result, Err(UpdateFailure::PushRejected(_))));
    assert_eq!(
        remote2
            .find_reference("refs/heads/auto")
            .expect("auto")
            .into_fully_peeled_id()
            .expect("id")
            .detach(),
        initial2
    );
}

#[test]
fn update_paths_stay_inside() {
    assert_eq!(normalize_path("").as_deref(), Some(""));
    assert_eq!(
        normalize_path("./apps/../clusters/").as_deref(),
        Some("clusters")
    );
    assert_eq!(normalize_path("../x"), None);
    assert_eq!(normalize_path("/etc"), None);
}

#[test]
fn push_credentials_and_url_stay_off_the_command_line() {
    use crate::controllers::source::git_auth::GitCredentials;
    let dir = tempfile::tempdir().expect("tempdir");
    let auth = GitAuth {
        credentials: GitCredentials::Basic {
            username: "alice".into(),
            password: "s3cret-pw".into(),
        },
        ..GitAuth::default()
    };
    let push_auth = PushAuth::new(Some(&auth), dir.path()).expect("auth");
    let url = "http://alice:url-pw@127.0.0.1:1/x.git";
    let cmd = git_command(dir.path(), &push_auth, url, &["push", PUSH_REMOTE, "main"]);
    let args: Vec<String> = cmd
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let joined = args.join(" ");
    use base64::Engine;
    let pair = base64::engine::general_purpose::STANDARD.encode("alice:s3cret-pw");
    for secret in ["s3cret-pw", "url-pw", "Authorization", pair.as_str()] {
        assert!(!joined.contains(secret), "{secret} in {joined}");
    }
    let env: BTreeMap<String, String> = cmd
        .get_envs()
        .filter_map(|(k, v)| {
            Some((
                k.to_string_lossy().into_owned(),
                v?.to_string_lossy().into_owned(),
            ))
        })
        .collect();
    assert_eq!(env.get("GIT_CONFIG_COUNT").map(String::as_str), Some("2"));
    assert_eq!(
        env.get("GIT_CONFIG_KEY_0").map(String::as_str),
        Some("remote.flotilla-push.url")
    );
    assert_eq!(env.get("GIT_CONFIG_VALUE_0").map(String::as_str), Some(url));
    assert_eq!(
        env.get("GIT_CONFIG_KEY_1").map(String::as_str),
        Some("http.extraHeader")
    );
    assert_eq!(
        env.get("GIT_CONFIG_VALUE_1"),
        Some(&format!("Authorization: Basic {pair}"))
    );
}

#[test]
fn automation_failure_messages_mask_url_passwords() {
    let e = retry(
        "GitOperationFailed",
        "push to 'https://bob:hunter2@h/r.git' failed",
    );
    assert!(!e.to_string().contains("hunter2"), "{e}");
}
