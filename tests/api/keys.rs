//! KMS, locally: a template's keys and aliases are provisioned on the endpoint, and a key is
//! used only as its key policy and the caller's own policies allow — KMS's rules, which the
//! endpoint's moto does not apply by itself.

use ferrite_tests::endpoint;
use infra::iam::Principal;
use infra::template::{Context, Template};
use serde_json::json;

const TEMPLATE: &str = r#"
AWSTemplateFormatVersion: "2010-09-09"
Resources:
  SealingKey:
    Type: AWS::KMS::Key
    Properties:
      Description: seals what the table must not hold in the clear
      EnableKeyRotation: true
      KeyPolicy:
        Version: "2012-10-17"
        Statement:
          - Sid: The account's IAM policies decide
            Effect: Allow
            Principal: { AWS: !Sub "arn:${AWS::Partition}:iam::${AWS::AccountId}:root" }
            Action: kms:*
            Resource: "*"
          - Sid: Never without the purpose in the context
            Effect: Deny
            Principal: "*"
            Action: [kms:Encrypt, kms:Decrypt]
            Resource: "*"
            Condition:
              "Null": { "kms:EncryptionContext:purpose": "true" }
  SealingKeyAlias:
    Type: AWS::KMS::Alias
    Properties:
      AliasName: !Sub "alias/${AWS::StackName}/sealing"
      TargetKeyId: !Ref SealingKey
"#;

fn principal(name: &str, statements: Vec<serde_json::Value>) -> Principal {
    Principal {
        role: format!("{name}Role"),
        user: name.to_owned(),
        access_key_id: format!("AKIA{}", &ulid::Ulid::new().to_string()[10..]),
        arn: format!("arn:aws:sts::123456789012:assumed-role/{name}Role/{name}"),
        statements,
        service: None,
    }
}

#[tokio::test]
async fn a_key_is_provisioned_from_the_template_and_used_only_as_its_key_policy_and_the_callers_allow()
 {
    let endpoint = endpoint();
    let template = Template::parse(TEMPLATE).expect("template");
    let stack = format!("keys-{}", ulid::Ulid::new().to_string().to_lowercase());
    let mut ctx = Context::local(&stack, "us-east-1");
    infra::stack::provision_all(&template, &mut ctx, &endpoint, &mut |_| {})
        .await
        .expect("provisioned");
    let arn = ctx.attributes["SealingKey.Arn"].clone();
    assert!(
        arn.starts_with("arn:aws:kms:us-east-1:123456789012:key/"),
        "{arn}"
    );
    assert_eq!(
        ctx.refs["SealingKeyAlias"],
        format!("alias/{stack}/sealing")
    );
    // Provisioning again (another `make dev` on the same endpoint) finds the same key.
    let mut again = Context::local(&stack, "us-east-1");
    infra::stack::provision_all(&template, &mut again, &endpoint, &mut |_| {})
        .await
        .expect("provisioned again");
    assert_eq!(again.attributes["SealingKey.Arn"], arn);

    let policies = infra::iam::resource_policies(&template, &ctx).expect("policies");
    assert_eq!(policies[&arn].len(), 2, "{policies:?}");
    infra::iam::register_resource_policies(&endpoint, &policies)
        .await
        .expect("registered");
    let sealer = principal(
        "Sealer",
        vec![json!({"Effect": "Allow", "Action": ["kms:Encrypt"], "Resource": arn})],
    );
    let opener = principal(
        "Opener",
        vec![json!({"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": arn})],
    );
    infra::iam::register(&endpoint, &[sealer.clone(), opener.clone()])
        .await
        .expect("roles");
    let as_role = |p: &Principal| {
        let (endpoint, key) = (endpoint.clone(), p.access_key_id.clone());
        async move {
            aws_sdk_kms::Client::new(&infra::local_sdk_config_as(&endpoint, &key, "secret").await)
        }
    };
    let sealing = as_role(&sealer).await;
    let opening = as_role(&opener).await;

    let ciphertext = sealing
        .encrypt()
        .key_id(format!("alias/{stack}/sealing"))
        .plaintext(aws_sdk_kms::primitives::Blob::new(b"a secret".to_vec()))
        .encryption_context("purpose", "test")
        .send()
        .await
        .expect("the sealer may encrypt")
        .ciphertext_blob
        .expect("ciphertext");
    let decrypted = opening
        .decrypt()
        .key_id(&arn)
        .ciphertext_blob(ciphertext.clone())
        .encryption_context("purpose", "test")
        .send()
        .await
        .expect("the opener may decrypt");
    assert_eq!(
        decrypted.plaintext.expect("plaintext").as_ref(),
        b"a secret"
    );

    // Each only what its own policy allows…
    let refused = sealing
        .decrypt()
        .key_id(&arn)
        .ciphertext_blob(ciphertext.clone())
        .encryption_context("purpose", "test")
        .send()
        .await
        .expect_err("the sealer may not decrypt");
    assert!(
        format!("{:?}", refused.into_service_error()).contains("AccessDenied"),
        "a denial, as KMS words it"
    );
    // …and never what the key policy denies, whatever the caller's policy says.
    let no_context = opening
        .decrypt()
        .key_id(&arn)
        .ciphertext_blob(ciphertext)
        .send()
        .await;
    assert!(no_context.is_err(), "the key policy's Deny wins");
}
