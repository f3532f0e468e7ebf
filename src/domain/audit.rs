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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
                "deactivate"
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
                "city"
            ]
        );
    }
}
