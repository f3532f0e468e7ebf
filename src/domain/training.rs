//! Social-work training sessions (社工业务培训).

use crate::text_enum;

text_enum! {
    /// Kind of training session: `pre_job` 岗前培训 or `professional` 专业培训.
    TrainingKind {
        PreJob = "pre_job": "岗前培训",
        Professional = "professional": "专业培训",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_carry_their_labels() {
        assert_eq!(TrainingKind::PreJob.label(), "岗前培训");
        assert_eq!(
            TrainingKind::parse("professional"),
            Ok(TrainingKind::Professional)
        );
    }

    #[test]
    fn refs_are_trimmed_and_bounded() {
        assert_eq!(
            crate::domain::Ref::parse(" T-1 ").map(String::from),
            Ok("T-1".to_string())
        );
        assert!(crate::domain::Ref::parse("").is_err());
        assert!(crate::domain::Ref::parse(&"x".repeat(65)).is_err());
    }
}
