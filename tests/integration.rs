//! Every integration test in one binary: one link of the whole crate instead of one per file keeps
//! `cargo test` within a CI machine's disk (each test binary is ~150 MB) and saves link time.
//! Run one file's tests with `cargo test --test integration <file>::`.

#[macro_use]
mod common;
mod console_support;
#[path = "common/demo.rs"]
mod demo_support;
mod image_support;

mod apiserver_bad_input;
mod apiserver_cli;
mod apiserver_core;
mod apiserver_crds;
mod apiserver_fuzz;
mod apiserver_kube_rs;
mod apiserver_kubectl;
mod apiserver_semantics;
mod apiserver_server;
mod apiserver_simulator;
mod apiserver_watch_faults;
mod argo_application;
mod artifact_generator;
mod bucket_sources;
mod cluster_actions;
mod cluster_watch;
mod console_tmux;
mod demo_cli;
mod demo_headless;
mod demo_no_git;
mod demo_registry;
mod demo_tmux;
mod get_cli;
mod helm_conformance;
mod helm_release;
mod helm_sources;
mod helmrelease_reconcile;
mod image_automation;
mod image_e2e;
mod image_registry;
mod image_runtime;
mod image_triggers;
mod images_view;
mod kustomization_pipeline;
mod kustomize_conformance;
mod kustomize_fuzz_regressions;
mod kustomize_remote;
mod notifications;
mod oci_sources;
mod policy_cases;
mod policy_cli;
mod policy_setters;
mod reconcile_apply;
mod reconcile_cli;
mod reconcile_git;
mod reconcile_kustomization;
mod reconcile_runtime;
mod reconcile_safety;
mod reconcile_stages;
mod reconcile_storage;
mod reconcile_template;
mod sops_decrypt;
mod source_git;
mod tui_cli;
mod tui_clusters;
mod tui_console;
mod tui_live;
mod tui_table;
mod tui_views;
mod views_console;
mod views_e2e;
mod views_render;
