//! Cybersource's status and reason vocabularies (reference §3.3, §4.1), open to new values.

paybridge_model::open_enum! {
    /// `status` of a payment response (HTTP 201 covers approvals *and* declines).
    pub enum PaymentStatus {
        Authorized = "AUTHORIZED",
        PartialAuthorized = "PARTIAL_AUTHORIZED",
        AuthorizedPendingReview = "AUTHORIZED_PENDING_REVIEW",
        AuthorizedRiskDeclined = "AUTHORIZED_RISK_DECLINED",
        PendingAuthentication = "PENDING_AUTHENTICATION",
        PendingReview = "PENDING_REVIEW",
        Declined = "DECLINED",
        InvalidRequest = "INVALID_REQUEST",
        ServerError = "SERVER_ERROR",
    }
}

paybridge_model::open_enum! {
    /// `errorInformation.reason` on a 201, or `reason` of a 400/502 body.
    pub enum Reason {
        AvsFailed = "AVS_FAILED",
        ContactProcessor = "CONTACT_PROCESSOR",
        ExpiredCard = "EXPIRED_CARD",
        ProcessorDeclined = "PROCESSOR_DECLINED",
        InsufficientFund = "INSUFFICIENT_FUND",
        StolenLostCard = "STOLEN_LOST_CARD",
        IssuerUnavailable = "ISSUER_UNAVAILABLE",
        UnauthorizedCard = "UNAUTHORIZED_CARD",
        CvnNotMatch = "CVN_NOT_MATCH",
        ExceedsCreditLimit = "EXCEEDS_CREDIT_LIMIT",
        InvalidCvn = "INVALID_CVN",
        BlockedByCardholder = "BLOCKED_BY_CARDHOLDER",
        DeclinedCheck = "DECLINED_CHECK",
        BlacklistedCustomer = "BLACKLISTED_CUSTOMER",
        SuspendedAccount = "SUSPENDED_ACCOUNT",
        PaymentRefused = "PAYMENT_REFUSED",
        CvFailed = "CV_FAILED",
        InvalidAccount = "INVALID_ACCOUNT",
        GeneralDecline = "GENERAL_DECLINE",
        InvalidMerchantConfiguration = "INVALID_MERCHANT_CONFIGURATION",
        AchVerificationFailed = "ACH_VERIFICATION_FAILED",
        AllowablePinRetriesExceeded = "ALLOWABLE_PIN_RETRIES_EXCEEDED",
        ProcessorError = "PROCESSOR_ERROR",
        DecisionProfileReject = "DECISION_PROFILE_REJECT",
        ScoreExceedsThreshold = "SCORE_EXCEEDS_THRESHOLD",
        DecisionProfileReview = "DECISION_PROFILE_REVIEW",
        PendingAuthentication = "PENDING_AUTHENTICATION",
        ConsumerAuthenticationRequired = "CONSUMER_AUTHENTICATION_REQUIRED",
        ConsumerAuthenticationFailed = "CONSUMER_AUTHENTICATION_FAILED",
        CustomerWatchlistMatch = "CUSTOMER_WATCHLIST_MATCH",
        AddressCountryWatchlistMatch = "ADDRESS_COUNTRY_WATCHLIST_MATCH",
        EmailCountryWatchlistMatch = "EMAIL_COUNTRY_WATCHLIST_MATCH",
        IpCountryWatchlistMatch = "IP_COUNTRY_WATCHLIST_MATCH",
        MissingField = "MISSING_FIELD",
        InvalidData = "INVALID_DATA",
        DuplicateRequest = "DUPLICATE_REQUEST",
        InvalidCard = "INVALID_CARD",
        CardTypeNotAccepted = "CARD_TYPE_NOT_ACCEPTED",
        ProcessorUnavailable = "PROCESSOR_UNAVAILABLE",
        InvalidAmount = "INVALID_AMOUNT",
        InvalidCardType = "INVALID_CARD_TYPE",
        InvalidPaymentId = "INVALID_PAYMENT_ID",
        NotSupported = "NOT_SUPPORTED",
        ExceedsAuthAmount = "EXCEEDS_AUTH_AMOUNT",
        AuthAlreadyReversed = "AUTH_ALREADY_REVERSED",
        TransactionAlreadySettled = "TRANSACTION_ALREADY_SETTLED",
        TransactionAlreadyReversedOrSettled = "TRANSACTION_ALREADY_REVERSED_OR_SETTLED",
        MissingAuth = "MISSING_AUTH",
        CaptureAlreadyVoided = "CAPTURE_ALREADY_VOIDED",
        AccountNotAllowedCredit = "ACCOUNT_NOT_ALLOWED_CREDIT",
        NotVoidable = "NOT_VOIDABLE",
        SystemError = "SYSTEM_ERROR",
        ServerTimeout = "SERVER_TIMEOUT",
        ServiceTimeout = "SERVICE_TIMEOUT",
    }
}

impl Reason {
    /// A sentence a shop assistant or customer can read.
    pub fn describe(&self) -> &'static str {
        match self {
            Reason::InsufficientFund => "insufficient funds",
            Reason::ExpiredCard => "the card has expired",
            Reason::StolenLostCard => "the card was reported lost or stolen",
            Reason::ContactProcessor => "the issuer asks to be contacted",
            Reason::ProcessorDeclined | Reason::GeneralDecline => "the issuer declined the card",
            Reason::InvalidAccount | Reason::InvalidCard => "the card number is invalid",
            Reason::InvalidCvn | Reason::CvnNotMatch | Reason::CvFailed => {
                "the card security code does not match"
            }
            Reason::AvsFailed => "the billing address does not match the card",
            Reason::ExceedsCreditLimit => "the card's credit limit is exceeded",
            Reason::IssuerUnavailable => "the issuer is unavailable",
            Reason::UnauthorizedCard => "the card is not active or not authorized",
            Reason::InvalidMerchantConfiguration => "the merchant account is misconfigured",
            Reason::DecisionProfileReject | Reason::ScoreExceedsThreshold => {
                "rejected by fraud screening"
            }
            Reason::DecisionProfileReview => "held for fraud review",
            _ => "the payment was not approved",
        }
    }
}
