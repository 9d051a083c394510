//! One-shot listings for scripts (`flotilla get`): discovery of the served versions exactly as a
//! session runs it, then one list per served kind, turned into the same [`Row`]s the console shows.

use super::clients::{Clients, api_resource};
use super::discovery::{discover, pick_versions};
use super::error::ClusterError;
use super::session::to_row;
use crate::model::kinds::{KindInfo, Scope};
use crate::model::row::Row;
use kube::api::{Api, DynamicObject, ListParams};

/// What listing one context found: the rows it could read and what failed (one entry per failure).
#[derive(Debug, Default)]
pub struct ContextListing {
    /// The context.
    pub context: String,
    /// Rows of every kind that listed, in no particular order.
    pub rows: Vec<Row>,
    /// Discovery or list failures; rows of the kinds that did list are still there.
    pub errors: Vec<ClusterError>,
}

impl Clients {
    /// Lists the GitOps objects of `context` once: discovery picks the served version of every
    /// registry kind (as a session does), then each kind (or only `kind`) is listed in `namespace`
    /// (`None` = all namespaces). A kind the cluster does not serve yields no rows and no error.
    pub async fn list_rows(
        &self,
        context: &str,
        namespace: Option<&str>,
        kind: Option<&'static KindInfo>,
    ) -> ContextListing {
        let mut out = ContextListing {
            context: context.to_string(),
            ..ContextListing::default()
        };
        let client = match self.client(context).await {
            Ok(c) => c,
            Err(e) => {
                out.errors.push(e);
                return out;
            }
        };
        let served = match self
            .timed(context, "discovery", discover(client.clone()))
            .await
        {
            Ok(s) => s,
            Err(e) => {
                out.errors.push(e);
                return out;
            }
        };
        let kinds = pick_versions(&served);
        self.set_served(context, &kinds);
        let lists = kinds
            .iter()
            .filter(|(info, _)| kind.is_none_or(|k| k.kind == info.kind))
            .map(|(info, version)| {
                self.list_kind(client.clone(), context, namespace, info, version)
            });
        for result in futures::future::join_all(lists).await {
            match result {
                Ok(rows) => out.rows.extend(rows),
                Err(e) => out.errors.push(e),
            }
        }
        out
    }

    async fn list_kind(
        &self,
        client: kube::Client,
        context: &str,
        namespace: Option<&str>,
        info: &'static KindInfo,
        version: &str,
    ) -> Result<Vec<Row>, ClusterError> {
        let ar = api_resource(info, version);
        let api: Api<DynamicObject> = match (namespace, info.scope) {
            (Some(ns), Scope::Namespaced) => Api::namespaced_with(client, ns, &ar),
            _ => Api::all_with(client, &ar),
        };
        let what = match namespace {
            Some(ns) => format!("list {} in namespace {ns}", info.plural),
            None => format!("list {}", info.plural),
        };
        let list = self
            .timed(context, &what, api.list(&ListParams::default()))
            .await?;
        Ok(list
            .items
            .into_iter()
            .filter_map(|obj| to_row(context, &ar, obj))
            .collect())
    }
}
