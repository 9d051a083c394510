//! OCI helpers of the source controller beyond OCIRepository: Helm charts stored in an OCI
//! registry (HelmRepository `type: oci`).

pub mod chart;
