//! The set of resource types the sandbox serves: the built-ins plus whatever the stored
//! CustomResourceDefinitions declare. Every request is resolved here first, because discovery,
//! OpenAPI, validation and table printing all read the same description of a type.

use std::sync::Arc;

use crate::builtins;
use crate::kind::ResourceType;

/// The served types, rebuilt whenever a CRD changes.
#[derive(Debug, Clone)]
pub struct Registry {
    types: Vec<Arc<ResourceType>>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry {
            types: builtins::all().into_iter().map(Arc::new).collect(),
        }
    }
}

impl Registry {
    /// Looks up the type served at `/apis/{group}/{version}/{plural}`.
    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceType>> {
        self.types
            .iter()
            .find(|t| t.group == group && t.version == version && t.plural == plural)
            .cloned()
    }

    /// The groups in serving order, each with its versions (preferred first).
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut groups: Vec<(String, Vec<String>)> = Vec::new();
        for t in &self.types {
            match groups.iter_mut().find(|(g, _)| *g == t.group) {
                Some((_, versions)) => {
                    if !versions.contains(&t.version) {
                        versions.push(t.version.clone());
                    }
                }
                None => groups.push((t.group.clone(), vec![t.version.clone()])),
            }
        }
        groups
    }

    /// The types served in one group/version.
    pub fn in_group_version(&self, group: &str, version: &str) -> Vec<Arc<ResourceType>> {
        self.types
            .iter()
            .filter(|t| t.group == group && t.version == version)
            .cloned()
            .collect()
    }

    /// Replaces the custom types with those derived from `custom` (from established CRDs).
    pub fn set_custom(&mut self, custom: Vec<ResourceType>) {
        self.types.retain(|t| !t.custom);
        self.types.extend(custom.into_iter().map(Arc::new));
    }
}
