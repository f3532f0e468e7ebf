//! The audit trail's vocabulary: what was done, and to which kind of record.
//!
//! The stored words are part of the trail's meaning: old rows and their readers depend on them,
//! so a word is never renamed (points are audited as `station`, like the stations they sit under).

use crate::text_enum;

text_enum! {
    /// What a change did.
    AuditAction {
        Create = "create": "新增",
        Update = "update": "修改",
        Delete = "delete": "删除",
        Transition = "transition": "流转",
        Publish = "publish": "发布",
        Withdraw = "withdraw": "撤回",
        RotateSecret = "rotate_secret": "更换密钥",
        SetPassword = "set_password": "设置密码",
        Deactivate = "deactivate": "停用",
        Close = "close": "截止",
        Reopen = "reopen": "重新开放",
        Submit = "submit": "报送",
        Accept = "accept": "确认",
        Return = "return": "退回",
    }
}

text_enum! {
    /// The kind of record a change touched.
    AuditEntity {
        County = "county": "县（市、区）",
        PlanStatusChange = "plan_status_change": "实施方案进度",
        Town = "town": "镇（街道）",
        Station = "station": "社工站（点）",
        EquipmentCheck = "equipment_check": "设备核查",
        Staff = "staff": "社工",
        Posting = "posting": "岗位",
        FundingRequest = "funding_request": "经费申请",
        Training = "training": "培训",
        ProgressSnapshot = "progress_snapshot": "进度快照",
        User = "user": "用户",
        Client = "client": "接口客户端",
        Province = "province": "省",
        City = "city": "地级市",
        Round = "round": "报送轮次",
        RoundParticipant = "round_participant": "报送单位",
        Webhook = "webhook": "推送订阅",
    }
}

text_enum! {
    /// A change in the feed: `<entity>.<action>` in the audit trail's words. Only these pairs
    /// are ever recorded ([`ChangeType::of`] refuses any other, so the feed never shows a type
    /// the spec does not list).
    ChangeType {
        CountyCreate = "county.create": "county.create",
        CountyUpdate = "county.update": "county.update",
        CountyDelete = "county.delete": "county.delete",
        PlanStatusChangeCreate = "plan_status_change.create": "plan_status_change.create",
        TownCreate = "town.create": "town.create",
        TownUpdate = "town.update": "town.update",
        TownDelete = "town.delete": "town.delete",
        StationCreate = "station.create": "station.create",
        StationUpdate = "station.update": "station.update",
        StationDelete = "station.delete": "station.delete",
        EquipmentCheckCreate = "equipment_check.create": "equipment_check.create",
        StaffCreate = "staff.create": "staff.create",
        StaffUpdate = "staff.update": "staff.update",
        StaffDelete = "staff.delete": "staff.delete",
        PostingCreate = "posting.create": "posting.create",
        PostingUpdate = "posting.update": "posting.update",
        FundingRequestCreate = "funding_request.create": "funding_request.create",
        FundingRequestUpdate = "funding_request.update": "funding_request.update",
        FundingRequestDelete = "funding_request.delete": "funding_request.delete",
        FundingRequestTransition = "funding_request.transition": "funding_request.transition",
        TrainingCreate = "training.create": "training.create",
        TrainingUpdate = "training.update": "training.update",
        TrainingDelete = "training.delete": "training.delete",
        ProgressSnapshotPublish = "progress_snapshot.publish": "progress_snapshot.publish",
        ProgressSnapshotWithdraw = "progress_snapshot.withdraw": "progress_snapshot.withdraw",
        UserCreate = "user.create": "user.create",
        UserUpdate = "user.update": "user.update",
        UserSetPassword = "user.set_password": "user.set_password",
        UserDeactivate = "user.deactivate": "user.deactivate",
        ClientCreate = "client.create": "client.create",
        ClientUpdate = "client.update": "client.update",
        ClientRotateSecret = "client.rotate_secret": "client.rotate_secret",
        ProvinceCreate = "province.create": "province.create",
        ProvinceUpdate = "province.update": "province.update",
        ProvinceDelete = "province.delete": "province.delete",
        CityCreate = "city.create": "city.create",
        CityUpdate = "city.update": "city.update",
        CityDelete = "city.delete": "city.delete",
        RoundCreate = "round.create": "round.create",
        RoundUpdate = "round.update": "round.update",
        RoundClose = "round.close": "round.close",
        RoundReopen = "round.reopen": "round.reopen",
        RoundPublish = "round.publish": "round.publish",
        RoundWithdraw = "round.withdraw": "round.withdraw",
        RoundParticipantSubmit = "round_participant.submit": "round_participant.submit",
        RoundParticipantAccept = "round_participant.accept": "round_participant.accept",
        RoundParticipantReturn = "round_participant.return": "round_participant.return",
        WebhookCreate = "webhook.create": "webhook.create",
        WebhookUpdate = "webhook.update": "webhook.update",
        WebhookDelete = "webhook.delete": "webhook.delete",
        WebhookRotateSecret = "webhook.rotate_secret": "webhook.rotate_secret",
    }
}

impl AuditEntity {
    /// Whether a change to such a record can move the progress table's figures of the county it
    /// is audited under (and so its kept counts must be counted again).
    pub fn moves_figures(self) -> bool {
        !matches!(
            self,
            AuditEntity::ProgressSnapshot
                | AuditEntity::Round
                | AuditEntity::RoundParticipant
                | AuditEntity::User
                | AuditEntity::Client
                | AuditEntity::Webhook
        )
    }

    /// Events about accounts (users, integration clients, webhook subscriptions): only the
    /// administrators who manage them see these, in the feed and by webhook.
    pub const ACCOUNTS: [AuditEntity; 3] =
        [AuditEntity::User, AuditEntity::Client, AuditEntity::Webhook];

    pub fn is_account(self) -> bool {
        Self::ACCOUNTS.contains(&self)
    }
}

impl ChangeType {
    /// The type of a change `action` on a record of `entity`, if the trail records such changes.
    pub fn of(entity: AuditEntity, action: AuditAction) -> Option<ChangeType> {
        use AuditAction as A;
        use AuditEntity as E;
        use ChangeType as T;
        Some(match (entity, action) {
            (E::County, A::Create) => T::CountyCreate,
            (E::County, A::Update) => T::CountyUpdate,
            (E::County, A::Delete) => T::CountyDelete,
            (E::PlanStatusChange, A::Create) => T::PlanStatusChangeCreate,
            (E::Town, A::Create) => T::TownCreate,
            (E::Town, A::Update) => T::TownUpdate,
            (E::Town, A::Delete) => T::TownDelete,
            (E::Station, A::Create) => T::StationCreate,
            (E::Station, A::Update) => T::StationUpdate,
            (E::Station, A::Delete) => T::StationDelete,
            (E::EquipmentCheck, A::Create) => T::EquipmentCheckCreate,
            (E::Staff, A::Create) => T::StaffCreate,
            (E::Staff, A::Update) => T::StaffUpdate,
            (E::Staff, A::Delete) => T::StaffDelete,
            (E::Posting, A::Create) => T::PostingCreate,
            (E::Posting, A::Update) => T::PostingUpdate,
            (E::FundingRequest, A::Create) => T::FundingRequestCreate,
            (E::FundingRequest, A::Update) => T::FundingRequestUpdate,
            (E::FundingRequest, A::Delete) => T::FundingRequestDelete,
            (E::FundingRequest, A::Transition) => T::FundingRequestTransition,
            (E::Training, A::Create) => T::TrainingCreate,
            (E::Training, A::Update) => T::TrainingUpdate,
            (E::Training, A::Delete) => T::TrainingDelete,
            (E::ProgressSnapshot, A::Publish) => T::ProgressSnapshotPublish,
            (E::ProgressSnapshot, A::Withdraw) => T::ProgressSnapshotWithdraw,
            (E::User, A::Create) => T::UserCreate,
            (E::User, A::Update) => T::UserUpdate,
            (E::User, A::SetPassword) => T::UserSetPassword,
            (E::User, A::Deactivate) => T::UserDeactivate,
            (E::Client, A::Create) => T::ClientCreate,
            (E::Client, A::Update) => T::ClientUpdate,
            (E::Client, A::RotateSecret) => T::ClientRotateSecret,
            (E::Province, A::Create) => T::ProvinceCreate,
            (E::Province, A::Update) => T::ProvinceUpdate,
            (E::Province, A::Delete) => T::ProvinceDelete,
            (E::City, A::Create) => T::CityCreate,
            (E::City, A::Update) => T::CityUpdate,
            (E::City, A::Delete) => T::CityDelete,
            (E::Round, A::Create) => T::RoundCreate,
            (E::Round, A::Update) => T::RoundUpdate,
            (E::Round, A::Close) => T::RoundClose,
            (E::Round, A::Reopen) => T::RoundReopen,
            (E::Round, A::Publish) => T::RoundPublish,
            (E::Round, A::Withdraw) => T::RoundWithdraw,
            (E::RoundParticipant, A::Submit) => T::RoundParticipantSubmit,
            (E::RoundParticipant, A::Accept) => T::RoundParticipantAccept,
            (E::RoundParticipant, A::Return) => T::RoundParticipantReturn,
            (E::Webhook, A::Create) => T::WebhookCreate,
            (E::Webhook, A::Update) => T::WebhookUpdate,
            (E::Webhook, A::Delete) => T::WebhookDelete,
            (E::Webhook, A::RotateSecret) => T::WebhookRotateSecret,
            _ => return None,
        })
    }

    /// The entity and action of this type.
    pub fn parts(self) -> (AuditEntity, AuditAction) {
        let (entity, action) = self.as_str().split_once('.').unwrap_or_default();
        match (AuditEntity::parse(entity), AuditAction::parse(action)) {
            (Ok(e), Ok(a)) => (e, a),
            _ => unreachable!("every change type is an entity and an action"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_change_type_is_the_pair_it_names() {
        for t in ChangeType::ALL {
            let (entity, action) = t.parts();
            assert_eq!(ChangeType::of(entity, action), Some(*t));
            assert_eq!(t.as_str(), format!("{entity}.{action}"));
        }
        assert_eq!(
            ChangeType::of(AuditEntity::Town, AuditAction::Publish),
            None
        );
    }

    #[test]
    fn the_stored_words_of_the_audit_trail_stay_as_they_were() {
        let actions: Vec<_> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(
            actions,
            [
                "create",
                "update",
                "delete",
                "transition",
                "publish",
                "withdraw",
                "rotate_secret",
                "set_password",
                "deactivate",
                "close",
                "reopen",
                "submit",
                "accept",
                "return"
            ]
        );
        let entities: Vec<_> = AuditEntity::ALL.iter().map(|e| e.as_str()).collect();
        assert_eq!(
            entities,
            [
                "county",
                "plan_status_change",
                "town",
                "station",
                "equipment_check",
                "staff",
                "posting",
                "funding_request",
                "training",
                "progress_snapshot",
                "user",
                "client",
                "province",
                "city",
                "round",
                "round_participant",
                "webhook"
            ]
        );
    }
}
