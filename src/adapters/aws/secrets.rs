//! The Slack app's signing secret in Secrets Manager (read once at start-up).

use async_trait::async_trait;

use crate::adapters::aws::AwsConnection;
use crate::adapters::aws::error::port_error;
use crate::ports::{Operation, PortError, SecretSource};

pub struct SecretsManagerSecrets {
    client: aws_sdk_secretsmanager::Client,
}

impl SecretsManagerSecrets {
    pub fn new(connection: &AwsConnection) -> SecretsManagerSecrets {
        SecretsManagerSecrets { client: connection.secretsmanager_client() }
    }
}

#[async_trait]
impl SecretSource for SecretsManagerSecrets {
    async fn secret_string(&self, id: &str) -> Result<String, PortError> {
        let output = self
            .client
            .get_secret_value()
            .secret_id(id)
            .send()
            .await
            .map_err(|error| port_error(Operation::GetSecretValue, error))?;
        output
            .secret_string
            .filter(|value| !value.trim().is_empty())
            .ok_or_else(|| PortError::rejected(Operation::GetSecretValue, format!("secret {id} has no string value")))
    }
}
