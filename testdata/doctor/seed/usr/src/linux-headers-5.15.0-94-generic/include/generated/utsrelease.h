#define UTS_RELEASE "5.15.0-94-generic"
