//! Funding requests (落实经费情况): their stages, the actions that move them, and money in fen.

use crate::text_enum;

text_enum! {
    /// Stage of a funding request: `estimating` 正在测算, `consulting` 征求意见 (other departments
    /// consulted), `submitted` 已报审批, `approved` 已批准, `rejected` 未获批准, `returned` 退回修改,
    /// `withdrawn` 已撤回.
    FundingStage {
        Estimating = "estimating": "正在测算",
        Consulting = "consulting": "征求意见",
        Submitted = "submitted": "已报审批",
        Approved = "approved": "已批准",
        Rejected = "rejected": "未获批准",
        Returned = "returned": "退回修改",
        Withdrawn = "withdrawn": "已撤回",
    }
}

text_enum! {
    /// What moves a funding request: `create` 登记 (recorded when the request is made, never
    /// posted), `consult` 征求意见 (estimating → consulting), `submit` 报审批 (estimating or
    /// consulting → submitted), `approve` 批准, `reject` 不予批准, `return` 退回修改 (submitted →
    /// approved, rejected, returned; administrators only), `revise` 重新测算 (returned →
    /// estimating), `withdraw` 撤回 (any open stage → withdrawn).
    FundingAction {
        Create = "create": "登记",
        Consult = "consult": "征求意见",
        Submit = "submit": "报审批",
        Approve = "approve": "批准",
        Reject = "reject": "不予批准",
        Return = "return": "退回修改",
        Revise = "revise": "重新测算",
        Withdraw = "withdraw": "撤回",
    }
}

/// The largest amount accepted, in fen: 10亿元 (1,000,000,000 yuan).
pub const MAX_FEN: i64 = 100_000_000_000;

impl FundingStage {
    /// The actions the stage allows, in the order a request usually takes them.
    pub fn allowed_actions(self) -> &'static [FundingAction] {
        use FundingAction as A;
        match self {
            FundingStage::Estimating => &[A::Consult, A::Submit, A::Withdraw],
            FundingStage::Consulting => &[A::Submit, A::Withdraw],
            FundingStage::Submitted => &[A::Approve, A::Reject, A::Return, A::Withdraw],
            FundingStage::Returned => &[A::Revise, A::Withdraw],
            FundingStage::Approved | FundingStage::Rejected | FundingStage::Withdrawn => &[],
        }
    }

    /// Amounts, title and purpose may change only before the request is submitted.
    pub fn is_editable(self) -> bool {
        matches!(self, FundingStage::Estimating | FundingStage::Consulting)
    }
}

impl FundingAction {
    /// Decisions on a submitted request are the city bureau's.
    pub fn is_admin_only(self) -> bool {
        matches!(
            self,
            FundingAction::Approve | FundingAction::Reject | FundingAction::Return
        )
    }

    fn target(self) -> FundingStage {
        match self {
            FundingAction::Create | FundingAction::Revise => FundingStage::Estimating,
            FundingAction::Consult => FundingStage::Consulting,
            FundingAction::Submit => FundingStage::Submitted,
            FundingAction::Approve => FundingStage::Approved,
            FundingAction::Reject => FundingStage::Rejected,
            FundingAction::Return => FundingStage::Returned,
            FundingAction::Withdraw => FundingStage::Withdrawn,
        }
    }
}

/// The stage `action` leads to from `stage`, or why it cannot be taken (naming the stage and the
/// actions it allows).
pub fn apply(stage: FundingStage, action: FundingAction) -> Result<FundingStage, String> {
    if stage.allowed_actions().contains(&action) {
        return Ok(action.target());
    }
    let allowed: Vec<&str> = stage.allowed_actions().iter().map(|a| a.as_str()).collect();
    let allowed = match allowed.is_empty() {
        true => "none (the request is closed)".to_string(),
        false => allowed.join(", "),
    };
    Err(format!(
        "{action} is not allowed while the request is {stage} ({}); allowed: {allowed}",
        stage.label()
    ))
}

/// An amount of money in fen (分, a hundredth of a yuan): 0 to [`MAX_FEN`]. Integer fen, so
/// sums and the 万元 of the table are exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Fen(i64);

impl Fen {
    pub fn parse(fen: i64) -> Result<Fen, String> {
        if fen < 0 {
            return Err("must not be negative (integer fen)".into());
        }
        if fen > MAX_FEN {
            return Err(format!(
                "must be at most {MAX_FEN} fen (10亿元), in integer fen"
            ));
        }
        Ok(Fen(fen))
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl From<Fen> for i64 {
    fn from(fen: Fen) -> i64 {
        fen.0
    }
}

/// Fen as 万元 (1万元 = 1,000,000 fen) with up to four decimals, trailing zeros trimmed, rounded
/// half up at the yuan: 179,400,000 → "179.4". Integer arithmetic only.
pub fn fen_to_wan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let abs = fen.unsigned_abs();
    // In units of 0.0001万元 (one yuan, 100 fen).
    let units = (abs + 50) / 100;
    let whole = units / 10_000;
    let frac = units % 10_000;
    if frac == 0 {
        return format!("{sign}{whole}");
    }
    let digits = format!("{frac:04}");
    format!("{sign}{whole}.{}", digits.trim_end_matches('0'))
}

/// The stage's label, with the amount in 万元 when it is known: "已报审批，179.4万元".
pub fn label(stage: FundingStage, amount_fen: Option<i64>) -> String {
    match amount_fen {
        Some(fen) => format!("{}，{}万元", stage.label(), fen_to_wan(fen)),
        None => stage.label().to_string(),
    }
}

/// The amount a stage is about: the approved one once approved, the requested one otherwise.
pub fn stage_amount(
    stage: FundingStage,
    requested_fen: Option<i64>,
    approved_fen: Option<i64>,
) -> Option<i64> {
    match stage {
        FundingStage::Approved => approved_fen.or(requested_fen),
        _ => requested_fen,
    }
}

/// What the progress table prints for a county's funding: the latest note, or else the stage's
/// label with the amount.
pub fn funding_cell(
    stage: FundingStage,
    note: Option<&str>,
    requested_fen: Option<i64>,
    approved_fen: Option<i64>,
) -> String {
    match note.map(str::trim).filter(|n| !n.is_empty()) {
        Some(n) => n.to_string(),
        None => label(stage, stage_amount(stage, requested_fen, approved_fen)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fen_print_as_wan_yuan_without_trailing_zeros() {
        assert_eq!(fen_to_wan(179_400_000), "179.4");
        assert_eq!(fen_to_wan(1_000_000), "1");
        assert_eq!(fen_to_wan(0), "0");
        assert_eq!(fen_to_wan(123_456_789), "123.4568");
        assert_eq!(fen_to_wan(100), "0.0001");
        assert_eq!(fen_to_wan(MAX_FEN), "100000");
    }

    #[test]
    fn the_label_carries_the_amount_when_known() {
        assert_eq!(
            label(FundingStage::Submitted, Some(179_400_000)),
            "已报审批，179.4万元"
        );
        assert_eq!(label(FundingStage::Estimating, None), "正在测算");
        assert_eq!(
            funding_cell(
                FundingStage::Submitted,
                Some("测算经费约179.4万元，已报县政府审批。"),
                None,
                None
            ),
            "测算经费约179.4万元，已报县政府审批。"
        );
        assert_eq!(
            funding_cell(FundingStage::Approved, None, Some(2), Some(1_000_000)),
            "已批准，1万元"
        );
    }

    #[test]
    fn stages_allow_only_their_actions() {
        use FundingAction as A;
        use FundingStage as S;
        assert_eq!(apply(S::Estimating, A::Consult), Ok(S::Consulting));
        assert_eq!(apply(S::Consulting, A::Submit), Ok(S::Submitted));
        assert_eq!(apply(S::Submitted, A::Return), Ok(S::Returned));
        assert_eq!(apply(S::Returned, A::Revise), Ok(S::Estimating));
        assert_eq!(apply(S::Returned, A::Withdraw), Ok(S::Withdrawn));
        let err = apply(S::Estimating, A::Approve).expect_err("not allowed");
        assert!(err.contains("estimating") && err.contains("consult, submit, withdraw"));
        assert!(apply(S::Approved, A::Withdraw).is_err());
        assert!(apply(S::Estimating, A::Create).is_err());
    }

    #[test]
    fn amounts_are_bounded() {
        assert!(Fen::parse(-1).is_err());
        assert!(Fen::parse(MAX_FEN + 1).is_err());
        assert_eq!(Fen::parse(MAX_FEN).map(Fen::get), Ok(MAX_FEN));
    }
}
