"""Which input changes make the provider replace a resource (delete and create) rather than update it.

Offline, the provider schemas are not at hand: the installed pulumi-aws and pulumi-kubernetes Python
packages carry generated classes and documentation but no schema (their only JSON file is
`pulumi-plugin.json`, name and version). Replacement is decided inside the provider plugins, which cannot be
installed here: pulumi-aws by the upstream Terraform schema's `ForceNew`, pulumi-kubernetes by its own
table. The generated docstrings mention "forces a new resource" for some properties, but miss most of the
well-known ones (a VPC's or subnet's CIDR, an EKS cluster's name), so they are no source either.

So this table lists, for the resource types the program declares, the immutable properties we can justify,
each with its source. A change outside the table is shown as an update; `pulumi preview --diff` (the
cloud preview job) has the provider's final word.
"""

from __future__ import annotations

from infra.preview.paths import within

ANY = "*"  # every input: the service has no update call for the resource at all

_AWS: dict[str, tuple[str, ...]] = {
    # Amazon VPC User Guide, "VPC CIDR blocks": the primary IPv4 CIDR of a VPC cannot be changed.
    "aws:ec2/vpc:Vpc": ("cidrBlock",),
    # EC2 API ModifySubnetAttribute takes none of these; VPC User Guide: a subnet's CIDR cannot change.
    "aws:ec2/subnet:Subnet": ("cidrBlock", "availabilityZone", "availabilityZoneId", "vpcId"),
    # pulumi_aws.ec2.SecurityGroup docs: a name change "forces new"; likewise description, namePrefix, vpcId.
    "aws:ec2/securityGroup:SecurityGroup": ("name", "namePrefix", "description", "vpcId"),
    # EC2 API: NAT gateways have Create/Delete calls but no modify call for these.
    "aws:ec2/natGateway:NatGateway": ("subnetId", "allocationId", "connectivityType"),
    # EC2 API AllocateAddress sets the domain; no call changes it.
    "aws:ec2/eip:Eip": ("domain",),
    # EC2 API: no call moves a route table to another VPC.
    "aws:ec2/routeTable:RouteTable": ("vpcId",),
    # EC2 API ReplaceRouteTableAssociation changes an association's route table, never its subnet.
    "aws:ec2/routeTableAssociation:RouteTableAssociation": ("subnetId", "gatewayId"),
    # EC2 API: flow logs have Create/Delete/Describe calls only.
    "aws:ec2/flowLog:FlowLog": (
        "vpcId",
        "subnetId",
        "trafficType",
        "logDestination",
        "logDestinationType",
        "iamRoleArn",
        "logFormat",
        "maxAggregationInterval",
    ),
    # EKS API UpdateClusterConfig/UpdateClusterVersion name the cluster and take no role or service CIDR;
    # pulumi_aws.eks.Cluster docs: changing bootstrapSelfManagedAddons forces a new cluster.
    "aws:eks/cluster:Cluster": (
        "name",
        "roleArn",
        "bootstrapSelfManagedAddons",
        "kubernetesNetworkConfig.serviceIpv4Cidr",
        "kubernetesNetworkConfig.ipFamily",
    ),
    # EKS API UpdateNodegroupConfig takes labels, taints, scalingConfig, updateConfig and nodeRepairConfig;
    # UpdateNodegroupVersion takes version, releaseVersion and launchTemplate. Everything else is fixed.
    "aws:eks/nodeGroup:NodeGroup": (
        "clusterName",
        "nodeGroupName",
        "nodeGroupNamePrefix",
        "nodeRoleArn",
        "subnetIds",
        "instanceTypes",
        "amiType",
        "capacityType",
        "diskSize",
        "remoteAccess",
    ),
    # ElastiCache API ModifyReplicationGroup takes none of these (a secondary joins a global datastore only
    # at CreateReplicationGroup); pulumi_aws.elasticache.ReplicationGroup docs: snapshotName forces new.
    "aws:elasticache/replicationGroup:ReplicationGroup": (
        "replicationGroupId",
        "subnetGroupName",
        "atRestEncryptionEnabled",
        "kmsKeyId",
        "port",
        "globalReplicationGroupId",
        "snapshotName",
    ),
    # ElastiCache API ModifyCacheSubnetGroup identifies the group by name and cannot rename it.
    "aws:elasticache/subnetGroup:SubnetGroup": ("name",),
    # ElastiCache API ModifyGlobalReplicationGroup takes neither the id nor the primary.
    "aws:elasticache/globalReplicationGroup:GlobalReplicationGroup": (
        "globalReplicationGroupIdSuffix",
        "primaryReplicationGroupId",
    ),
    # AWS KMS Developer Guide: a key's spec, usage and multi-Region property are fixed at creation.
    "aws:kms/key:Key": ("customerMasterKeySpec", "keySpec", "keyUsage", "multiRegion"),
    # AWS KMS API UpdateAlias changes the target key only.
    "aws:kms/alias:Alias": ("name", "namePrefix"),
    # Amazon S3 User Guide: a bucket cannot be renamed; Object Lock, once on, cannot be turned off.
    "aws:s3/bucket:Bucket": ("bucket", "bucketPrefix", "objectLockEnabled"),
    # IAM API UpdateRole changes description and session duration only: no rename, no new path.
    "aws:iam/role:Role": ("name", "namePrefix", "path"),
    # IAM API PutRolePolicy/AttachRolePolicy: an inline policy is (role, name), an attachment (role, ARN).
    "aws:iam/rolePolicy:RolePolicy": ("name", "namePrefix", "role"),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": ("role", "policyArn"),
    # IAM API: an OIDC provider's thumbprints and client ids can be updated, its URL cannot.
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": ("url",),
    # Route 53 API: a hosted zone cannot be renamed; a record set is identified by zone, name and set
    # identifier (ChangeResourceRecordSets deletes and creates to change them).
    "aws:route53/zone:Zone": ("name", "delegationSetId"),
    "aws:route53/record:Record": ("zoneId", "name", "setIdentifier"),
    # Route 53 API UpdateHealthCheck: the health check's Type cannot be changed.
    "aws:route53/healthCheck:HealthCheck": ("type",),
    # ACM API: a certificate's names and key cannot change (UpdateCertificateOptions: logging only).
    "aws:acm/certificate:Certificate": (
        "domainName",
        "subjectAlternativeNames",
        "keyAlgorithm",
        "validationMethod",
    ),
    "aws:acm/certificateValidation:CertificateValidation": ("certificateArn",),
    # CloudWatch Logs API: no rename; the log class is fixed at creation.
    "aws:cloudwatch/logGroup:LogGroup": ("name", "namePrefix", "logGroupClass"),
    # AWS Backup API: vaults have no update call (their KMS key is fixed); selections neither.
    "aws:backup/vault:Vault": ("name", "kmsKeyArn"),
    "aws:backup/selection:Selection": (ANY,),
    # AWS WAFv2 API UpdateWebACL identifies the ACL by name and scope.
    "aws:wafv2/webAcl:WebAcl": ("name", "scope"),
}

# The split S3 bucket resources (PutBucketVersioning etc.) each configure one bucket: another bucket is
# another resource.
for _token in (
    "aws:s3/bucketVersioning:BucketVersioning",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
    "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
    "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
):
    _AWS[_token] = ("bucket", "expectedBucketOwner")

# pulumi-kubernetes, provider/pkg/provider/diff.go (`forceNew`): every object is replaced when its name or
# namespace changes; per kind, the fields below. Secrets and ConfigMaps are replaced on a data change
# unless the provider enables mutability.
_K8S_ANY_KIND = ("metadata.name", "metadata.namespace")
_K8S: dict[str, tuple[str, ...]] = {
    "kubernetes:apps/v1:Deployment": ("spec.selector",),
    "kubernetes:apps/v1:StatefulSet": (
        "spec.podManagementPolicy",
        "spec.revisionHistoryLimit",
        "spec.selector",
        "spec.serviceName",
        "spec.volumeClaimTemplates",
    ),
    "kubernetes:core/v1:Secret": ("type", "stringData", "data"),
    "kubernetes:core/v1:ConfigMap": ("data", "binaryData"),
    "kubernetes:core/v1:Service": ("spec.clusterIP",),
}
# Helm releases are diffed by the release logic, not by the object table above.
_K8S_OWN_DIFF = ("kubernetes:helm.sh/",)


def immutable_properties(type_token: str) -> tuple[str, ...]:
    if type_token in _AWS:
        return _AWS[type_token]
    if type_token.startswith("kubernetes:") and not type_token.startswith(_K8S_OWN_DIFF):
        return _K8S_ANY_KIND + _K8S.get(type_token, ())
    return ()


def forces_replacement(type_token: str, path: str) -> bool:
    """Whether changing the input at `path` (a `property_path`) replaces a resource of this type."""
    return any(rule == ANY or within(path, rule) for rule in immutable_properties(type_token))
