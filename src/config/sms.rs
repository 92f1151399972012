//! Text messages: `SMS_PROVIDER`, `TWILIO_*` and `SMS_ALLOWED_COUNTRIES`.

use super::reader::Reader;
use crate::mfa::sms::{SmsSettings, parse_sms_settings};

impl Reader<'_> {
    /// The SMS settings; `None` after a problem.
    pub(super) fn sms(&mut self, prod: bool) -> Option<SmsSettings> {
        match parse_sms_settings(self.lookup, prod) {
            Ok(sms) => Some(sms),
            Err(problems) => {
                for (var, message) in problems {
                    self.problem(var, message);
                }
                None
            }
        }
    }
}
