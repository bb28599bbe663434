//! Files the mini file server serves: the upgrade script and the firmware images.

pub const OLD_APP: &str = "S96x0_SALBR2_6_0_0.bin";
pub const NEW_APP: &str = "S96x0_SALBR2_7_0_0.bin";
pub const USER: &str = "2001";
pub const PASSWORD: &str = "1234";

pub fn upgrade_script() -> String {
    format!(
        "## test upgrade script\r\nIF $MODEL4 SEQ 9620 GOTO M9620\r\nGOTO GETSET\r\n# M9620\r\nSET APPNAME {NEW_APP}\r\n# GETSET\r\nGET 46xxsettings.txt\r\n"
    )
}

pub fn image(corrupt: bool) -> Vec<u8> {
    let key = provisioning::firmware::lab_signing_key();
    let version = version(NEW_APP);
    let spec = provisioning::firmware::ImageSpec {
        kind: provisioning::firmware::ImageKind::Application,
        models: &["9620", "9630"],
        hardware: &["*"],
        version: &version,
        app_name: NEW_APP,
    };
    let mut img = provisioning::firmware::build(&spec, b"reference payload", &key);
    if corrupt {
        // Flip one bit of the payload: the hash check must catch it.
        let at = img.len() - 3;
        img[at] ^= 0x40;
    }
    img
}

pub fn version(app: &str) -> String {
    simphone::boot::version_of(app)
}

/// A settings file that names the registrar: the only source of SIP_CONTROLLER_LIST.
pub fn settings_file(registrar: std::net::SocketAddr) -> String {
    format!(
        "## settings\nSET SIP_CONTROLLER_LIST {}:{};transport=udp\nSET SIPDOMAIN lab.test\n",
        registrar.ip(),
        registrar.port()
    )
}
