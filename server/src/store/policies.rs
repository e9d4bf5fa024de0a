//! Policy documents on the sea-orm store (issue #6): one per principal or access key.

use sea_orm::{ActiveValue::Set, EntityTrait, sea_query::OnConflict};

use super::StoreError;
use super::entity::{access_key, policy, principal};
use super::sea::SeaKeyStore;

/// Whose policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Subject {
    /// A principal's, by name.
    Principal,
    /// An access key's, by id.
    Key,
    /// A session's (login), by family id: the narrowing asked for at login.
    Session,
}

impl Subject {
    /// The stored kind, and the word used in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Principal => "principal",
            Self::Key => "key",
            Self::Session => "session",
        }
    }
}

impl SeaKeyStore {
    /// The policy document of a principal or key, if it has one.
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub async fn policy(&self, kind: Subject, subject: &str) -> Result<Option<String>, StoreError> {
        let row = policy::Entity::find_by_id((kind.as_str().to_owned(), subject.to_owned()))
            .one(self.db())
            .await?;
        Ok(row.map(|r| r.document))
    }

    /// Whether the principal or key a policy would belong to exists (sessions: never asked).
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub async fn policy_subject_exists(
        &self,
        kind: Subject,
        subject: &str,
    ) -> Result<bool, StoreError> {
        let id = subject.to_owned();
        Ok(match kind {
            Subject::Principal => principal::Entity::find_by_id(id)
                .one(self.db())
                .await?
                .is_some(),
            Subject::Key => access_key::Entity::find_by_id(id)
                .one(self.db())
                .await?
                .is_some(),
            Subject::Session => false,
        })
    }

    /// Sets (`Some`) or removes (`None`) the policy of an existing principal or key. The
    /// document must already be validated.
    ///
    /// # Errors
    /// [`StoreError::PrincipalNotFound`] / [`StoreError::KeyNotFound`]; [`StoreError::Database`].
    pub async fn set_policy(
        &self,
        kind: Subject,
        subject: &str,
        document: Option<&str>,
        now: i64,
    ) -> Result<(), StoreError> {
        // A session's policy is set by login right after its family is created.
        if kind != Subject::Session && !self.policy_subject_exists(kind, subject).await? {
            return Err(match kind {
                Subject::Principal => StoreError::PrincipalNotFound(subject.to_owned()),
                Subject::Key | Subject::Session => StoreError::KeyNotFound(subject.to_owned()),
            });
        }
        let id = (kind.as_str().to_owned(), subject.to_owned());
        let Some(document) = document else {
            policy::Entity::delete_by_id(id).exec(self.db()).await?;
            return Ok(());
        };
        let row = policy::ActiveModel {
            subject_kind: Set(id.0),
            subject: Set(id.1),
            document: Set(document.to_owned()),
            updated_at: Set(now),
        };
        policy::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([policy::Column::SubjectKind, policy::Column::Subject])
                    .update_columns([policy::Column::Document, policy::Column::UpdatedAt])
                    .to_owned(),
            )
            .exec(self.db())
            .await?;
        Ok(())
    }
}
